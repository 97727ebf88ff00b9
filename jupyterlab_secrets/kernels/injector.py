"""The server side of kernel injection: every kernel this server starts gets the secrets.

Two mechanisms, one per moment in a kernel's life:

- **At launch.** `SecretsKernelManager` (the mapping kernel manager's ``kernel_manager_class``)
  asks `KernelSecrets` for the project's environment in its pre-start step, at every start
  and every restart (manual through REST, or automatic after the process died). The secrets
  are in the process's environment before it runs a line, whichever client started it, so
  no request can overtake them. jupyter_client replays the last launch's arguments on a
  restart, so the names added last time are taken out (or given back their value from
  before) and the current environment is added again: a deleted or renamed secret is gone.
  Values that do not fit in a process environment (`launch_room`) are set by a silent
  request in the post-start step, which the start (and so the REST answer that names the
  kernel) waits for; meanwhile the kernel websockets hold what clients send it (`gate`).
- **While it runs.** `KernelSecrets` polls the store's change marker once per server. When
  the environment changed, every kernel whose secrets differ gets one silent
  ``execute_request`` from a server-side kernel client, then an empty one, so IPython's
  ``last_execution_result`` holds nothing of it. A kernel busy with a cell runs it when
  the cell is done: requests on its shell channel run in order.

Values never reach a log or an error message. The code sent to a kernel carries them
base64-encoded (see `languages`), and what the kernel broadcasts about these requests (their
status, and the code itself, which IRkernel echoes even for a silent request) never reaches a
client: the kernel websockets drop every message whose parent is one of them (`own_sessions`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from jupyter_client.session import Session
from jupyter_server.services.kernels.kernelmanager import ServerKernelManager

from .languages import (
    NAMES_VARIABLE,
    PYTHON,
    STATUS_EXPRESSION,
    STATUS_VARIABLE,
    Language,
    Skipped,
    language_for,
    python_startup_line,
)

State = Literal["loaded", "pending", "unsupported", "error"]

EnvironmentReader = Callable[[], Mapping[str, str]]
"""Answers the project's environment now (what ``GET environment`` answers). Blocking."""

MarkerReader = Callable[[], str]
"""Answers the store's change marker: it changes whenever the environment may have. Cheap,
blocking, and never derived from a value."""

_log = logging.getLogger(__name__)

_NOTHING: Mapping[str, str] = MappingProxyType({})

ENV_STRING_LIMIT = 128 * 1024
"""The most bytes one ``NAME=value`` string of a process environment may take (Linux's
``MAX_ARG_STRLEN``, with its terminating NUL)."""

ARGV_ALLOWANCE = 64 * 1024
"""What a kernel's command line may take, counted out of the environment's room."""

START_TIMEOUT = 60.0
"""How long a start waits for the kernel to take the values that did not fit in its
environment (jupyter_server waits as long for a new kernel's first answer)."""

_SESSIONS_KEPT = 4
"""How many of the server's own kernel clients (one per launch) are remembered per kernel,
so that what a kernel sends late about an earlier one's request is still recognised."""


def _arg_max() -> int:
    """The system's room for a new process's arguments and environment together."""
    if sys.platform == "win32":
        return 32 * 1024  # an environment block of 32,767 characters
    try:
        return int(os.sysconf("SC_ARG_MAX"))
    except (AttributeError, ValueError, OSError):
        return 256 * 1024


def _entry_bytes(name: str, value: str) -> int:
    """What ``NAME=value`` takes in a process environment: its bytes, its NUL, its pointer."""
    return len(os.fsencode(name)) + len(os.fsencode(value)) + 2 + 8


def launch_room(environment: Mapping[str, str]) -> int:
    """How many bytes of secrets a kernel launched with ``environment`` (without them) can take
    in its process environment: half of what the system allows for arguments and environment,
    less what ``environment`` and a command line take. The other half is left to what the
    kernel's own programs add (a wrapper script, a ``!command`` with many arguments)."""
    used = sum(_entry_bytes(name, value) for name, value in environment.items())
    return _arg_max() // 2 - used - ARGV_ALLOWANCE


def fit_launch(
    environment: Mapping[str, str], names: list[str], room: int
) -> tuple[list[str], list[str]]:
    """The names whose values go in the process environment, and those that do not fit (set
    right after the start instead), each sorted. The smallest values go first, so that as many
    as can be are there from the first instruction."""
    fits: list[str] = []
    later: list[str] = []
    for name in sorted(names, key=lambda n: (_entry_bytes(n, environment[n]), n)):
        size = _entry_bytes(name, environment[name])
        if size - 8 <= ENV_STRING_LIMIT and size <= room:
            fits.append(name)
            room -= size
        else:
            later.append(name)
    return sorted(fits), sorted(later)


@dataclass(frozen=True)
class KernelStatus:
    """What one kernel holds, as the status endpoint answers it (`kernel_status_json` in
    ``kernels/rest.py``). Names only, never values."""

    kernel_id: str
    language: str | None
    state: State
    names: list[str]
    skipped: list[Skipped]
    message: str | None


@dataclass(eq=False)
class _Kernel:
    """What the injector knows of one kernel of this server."""

    kernel_id: str
    manager: weakref.ReferenceType[ServerKernelManager]
    language_name: str | None
    language: Language | None
    ipykernel: bool
    held: dict[str, str] = field(default_factory=dict)
    """The secrets the kernel holds (those it was last given)."""
    added: dict[str, str | None] = field(default_factory=dict)
    """The names the last launch set in the process environment (or left out of it, for
    values that did not fit), each with the value it replaced (None: there was none)."""
    state: State = "pending"
    names: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    message: str | None = None
    launches: int = 0
    launching: bool = True
    deferred: list[str] = field(default_factory=list)
    """The names the last launch could not fit in the process environment."""
    gate: asyncio.Future[None] | None = None
    """Set while clients must wait: from a (re)start until the kernel holds every secret."""
    sessions: list[bytes] = field(default_factory=list)
    """The session IDs of the server's own clients of this kernel, newest last."""
    client: Any = None
    waiter: asyncio.Future[Any] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _view: tuple[dict[str, str], Mapping[str, str]] | None = field(
        default=None, init=False, repr=False
    )

    def held_view(self) -> Mapping[str, str]:
        """A read-only copy of `held`: the same object until `held` is replaced, so that the
        redactor, which asks for every output message, knows it unchanged at a glance."""
        view = self._view
        if view is None or view[0] is not self.held:
            view = self._view = (self.held, MappingProxyType(dict(self.held)))
        return view[1]

    def status(self) -> KernelStatus:
        return KernelStatus(
            self.kernel_id,
            self.language_name,
            self.state,
            list(self.names),
            list(self.skipped),
            self.message,
        )


def _is_ipykernel(argv: list[str]) -> bool:
    """Whether a kernelspec's command starts ipykernel, whose ``exec_lines`` we can add to."""
    for arg in argv:
        base = os.path.basename(arg)
        if base in ("ipykernel_launcher", "ipykernel", "ipykernel_launcher.py"):
            return True
    return False


def _unsupported(language: str | None) -> str:
    shown = language or "unknown"
    return (
        f"Secrets cannot be set in kernels of language {shown!r}: only Python, R, Julia and "
        "bash kernels get them."
    )


class KernelSecrets:
    """Keeps the secrets of every kernel of one server in step with the project's environment.

    One instance per server; `SecretsKernelManager` finds it through its mapping kernel
    manager (`install`).
    """

    def __init__(
        self,
        environment: EnvironmentReader,
        marker: MarkerReader,
        *,
        poll_interval: float = 3.0,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self._read_environment = environment
        self._read_marker = marker
        self.poll_interval = poll_interval
        self.log = log or _log
        self._kernels: dict[str, _Kernel] = {}
        self._environment: dict[str, str] | None = None
        self._marker: str | None = None
        self._read_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False

    # -- for other parts of the server -----------------------------------------------------

    def status(self, kernel_id: str) -> KernelStatus | None:
        """What a kernel holds, or None for a kernel this injector does not know."""
        kernel = self._kernels.get(kernel_id)
        return None if kernel is None else kernel.status()

    def secrets_for(self, kernel_id: str) -> Mapping[str, str]:
        """The secrets a kernel holds now, name to value (read-only; empty if unknown).

        While a change is on its way to the kernel, this holds the old and the new values
        by name (the new one where a name has both): either may still be printed.
        """
        kernel = self._kernels.get(kernel_id)
        return kernel.held_view() if kernel is not None else _NOTHING

    def own_sessions(self, kernel_id: str) -> list[bytes]:
        """The session IDs of the server's own requests to a kernel (the injection's): the
        kernel websockets drop what the kernel broadcasts about them."""
        kernel = self._kernels.get(kernel_id)
        return kernel.sessions if kernel is not None else []

    def gate(self, kernel_id: str) -> asyncio.Future[None] | None:
        """What a kernel's clients must wait for before their messages reach it: set from a
        start or restart until the kernel holds every secret; None when they need not wait."""
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel.gate is None or kernel.gate.done():
            return None
        return kernel.gate

    def notify_changed(self) -> None:
        """Say that the environment may have changed: check now rather than at the next poll.

        Safe to call from any thread.
        """
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def reload(self, kernel_id: str) -> KernelStatus | None:
        """Read the environment and set it in one kernel now, even if it seems to hold it."""
        kernel = self._kernels.get(kernel_id)
        if kernel is None:
            return None
        try:
            await self._refresh(force=True)
        except Exception as error:
            self._read_failed(error)
        if self._environment is not None:
            await self._inject(kernel, force=True)
        return kernel.status()

    def start(self) -> None:
        """Start polling the change marker (on the running event loop)."""
        if self._poller is not None or self._stopped:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._poller = self._loop.create_task(self._poll())

    async def stop(self) -> None:
        """Stop polling, drop pending injections, close the kernel clients."""
        self._stopped = True
        tasks = [t for t in (self._poller, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for kernel in self._kernels.values():
            self._close_client(kernel)
            self._open_gate(kernel)

    # -- the kernel manager's side ---------------------------------------------------------

    async def prepare_launch(
        self, manager: ServerKernelManager, env: Mapping[str, str] | None
    ) -> dict[str, str]:
        """The environment to start (or restart) a kernel process with: ``env`` (or the
        server's own), without what the last launch added, plus the current secrets."""
        self.start()
        kernel = self._track(manager)
        kernel.launches += 1
        kernel.launching = True
        kernel.deferred = []
        self._close_gate(kernel)
        self._cancel_request(kernel)
        self._close_client(kernel)
        launch = dict(os.environ if env is None else env)
        # A restart replays the last launch's env: take back what that launch added.
        for name, before in kernel.added.items():
            if before is None:
                launch.pop(name, None)
            else:
                launch[name] = before
        kernel.added = {}
        launch.pop(NAMES_VARIABLE, None)
        launch.pop(STATUS_VARIABLE, None)
        kernel.held = {}
        try:
            await self._refresh()
        except Exception as error:
            self._read_failed(error)
            kernel.state, kernel.names, kernel.skipped = "error", [], []
            kernel.message = (
                f"The secrets could not be read ({type(error).__name__}); this kernel started "
                "without them. Reload once the store is back."
            )
            return launch
        environment = self._environment or {}
        if kernel.language is None:
            self._set_unsupported(kernel, environment)
            return launch
        names, skipped = kernel.language.partition(environment)
        for name in names:
            # Replaced by the secret (or, for a value that does not fit, by nothing until
            # it is set), and given back at the next launch.
            kernel.added[name] = launch.pop(name, None)
        launched, kernel.deferred = fit_launch(environment, names, launch_room(launch))
        for name in launched:
            launch[name] = environment[name]
        launch[NAMES_VARIABLE] = ",".join(launched)
        # All of them, for redaction: the others are set before any client's request runs.
        kernel.held = {name: environment[name] for name in names}
        kernel.state = "pending" if kernel.deferred else "loaded"
        kernel.names, kernel.skipped, kernel.message = names, skipped, None
        return launch

    def startup_arguments(self, manager: ServerKernelManager) -> list[str]:
        """Arguments to add to a kernel's command: for ipykernel, an ``exec_lines`` line that
        registers the ``#!:bash`` cell transformer before the kernel answers anything."""
        kernel = self._kernels.get(manager.kernel_id or "")
        if kernel is None or not kernel.ipykernel or kernel.language is not PYTHON:
            return []
        return [f"--IPKernelApp.exec_lines={python_startup_line()}"]

    async def launched(self, manager: ServerKernelManager) -> None:
        """The kernel process runs: the values that did not fit in its environment are set
        now, before the start is over (so before any client's request); a change read while
        it was starting goes to it too. Never raises: a kernel always starts."""
        kernel = self._kernels.get(manager.kernel_id or "")
        if kernel is None:
            return
        kernel.launching = False
        if kernel.deferred:
            await self._inject_deferred(kernel)
        self._open_gate(kernel)
        self._schedule(kernel)

    async def _inject_deferred(self, kernel: _Kernel) -> None:
        count = len(kernel.deferred)
        try:
            await asyncio.wait_for(self._inject(kernel, force=True), START_TIMEOUT)
        except Exception as error:
            # The type only: a message might quote a value.
            self.log.warning(
                "jupyterlab_secrets could not set the secrets of kernel %s after its start: %s",
                kernel.kernel_id,
                type(error).__name__,
            )
            kernel.state = "error"
            kernel.message = (
                f"{count} secret(s) too large for the kernel's environment could not be set "
                "after its start. Check that it runs, then reload."
            )

    def hold(self, manager: ServerKernelManager) -> None:
        """A restart begins: clients' messages wait until the kernel runs and holds every
        secret (`release` ends it, whatever happened)."""
        kernel = self._kernels.get(manager.kernel_id or "")
        if kernel is not None:
            self._close_gate(kernel)

    def release(self, manager: ServerKernelManager) -> None:
        """A start or restart is over, done or failed: clients' messages go on."""
        kernel = self._kernels.get(manager.kernel_id or "")
        if kernel is not None:
            self._open_gate(kernel)

    def forget(self, kernel_id: str) -> None:
        """The kernel was shut down."""
        kernel = self._kernels.pop(kernel_id, None)
        if kernel is not None:
            self._cancel_request(kernel)
            self._close_client(kernel)
            self._open_gate(kernel)

    # -- internals ---------------------------------------------------------------------------

    def _track(self, manager: ServerKernelManager) -> _Kernel:
        kernel_id = manager.kernel_id
        assert kernel_id is not None
        kernel = self._kernels.get(kernel_id)
        if kernel is None or kernel.manager() is not manager:
            spec = manager.kernel_spec
            language_name = getattr(spec, "language", None) or None
            kernel = _Kernel(
                kernel_id=kernel_id,
                manager=weakref.ref(manager),
                language_name=language_name,
                language=language_for(language_name),
                ipykernel=_is_ipykernel(list(getattr(spec, "argv", []) or [])),
            )
            self._kernels[kernel_id] = kernel
        return kernel

    def _close_gate(self, kernel: _Kernel) -> None:
        if kernel.gate is None or kernel.gate.done():
            kernel.gate = asyncio.get_running_loop().create_future()

    def _open_gate(self, kernel: _Kernel) -> None:
        gate, kernel.gate = kernel.gate, None
        if gate is not None and not gate.done():
            gate.set_result(None)

    def _set_unsupported(self, kernel: _Kernel, environment: Mapping[str, str]) -> None:
        kernel.state, kernel.names = "unsupported", []
        kernel.message = _unsupported(kernel.language_name)
        reason = "This kernel's language cannot get secrets."
        kernel.skipped = [Skipped(name, reason) for name in sorted(environment)]

    def _read_failed(self, error: BaseException) -> None:
        # The type only: a message might quote what the store held.
        self.log.warning("jupyterlab_secrets could not read the secrets: %s", type(error).__name__)

    async def _refresh(self, force: bool = False) -> bool:
        """Read the marker, and the environment if it changed; True when it was re-read."""
        if self._read_lock is None:
            self._read_lock = asyncio.Lock()
        async with self._read_lock:
            marker = await asyncio.to_thread(self._read_marker)
            if not force and marker == self._marker and self._environment is not None:
                return False
            environment = dict(await asyncio.to_thread(self._read_environment))
            changed = environment != self._environment
            self._marker, self._environment = marker, environment
        if changed:
            for kernel in list(self._kernels.values()):
                self._schedule(kernel)
        return True

    async def _poll(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            self._prune()
            if not self._kernels:
                continue  # no kernel needs to know: no read at all
            try:
                await self._refresh()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._read_failed(error)

    def _prune(self) -> None:
        """Forget kernels whose manager is gone (shut down without telling us)."""
        for kernel_id, kernel in list(self._kernels.items()):
            if kernel.manager() is None:
                self.forget(kernel_id)

    def _schedule(self, kernel: _Kernel) -> None:
        if self._stopped or kernel.launching:
            return
        task = asyncio.ensure_future(self._inject(kernel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _inject(self, kernel: _Kernel, force: bool = False) -> None:
        """Set the current environment in a running kernel, unless it holds it already."""
        async with kernel.lock:
            environment = self._environment
            if environment is None or self._kernels.get(kernel.kernel_id) is not kernel:
                return
            if kernel.language is None:
                self._set_unsupported(kernel, environment)
                return
            wanted = kernel.language.launch_environment(environment)
            if not force and wanted == kernel.held and kernel.state == "loaded":
                return
            if kernel.launching:
                return  # `launched` schedules it once the process runs
            launches = kernel.launches
            for attempt in range(2):
                token = uuid.uuid4().hex
                injection = kernel.language.generate(environment, token)
                kernel.state, kernel.message = "pending", None
                kernel.names, kernel.skipped = injection.names, injection.skipped
                # Either value may be printed until the kernel has run it.
                kernel.held = {**kernel.held, **wanted}
                reply = await self._request(kernel, injection.code, injection.user_expressions)
                if reply is None or kernel.launches != launches:
                    return  # restarted meanwhile: the launch gave it the secrets
                outcome = _outcome(reply, token)
                if outcome != "aborted" or attempt == 1:
                    break
                # A user cell failed, and the kernel dropped what was queued behind it.
            if outcome == "ok":
                # The kernel holds them now, whatever it runs next.
                kernel.held = wanted
                kernel.state, kernel.message = "loaded", None
                if kernel.language is PYTHON:
                    # IPython keeps the last request in last_execution_result: an empty one
                    # leaves nothing of the injection there. A reload answers once it ran, so
                    # the next cell finds nothing; a change does not wait for it, because a cell
                    # queued ahead of it would hold the next change back.
                    if force:
                        await self._request(kernel, "", {})
                    else:
                        self._send(kernel, "", {})
            else:
                kernel.state = "error"
                kernel.message = (
                    "The kernel could not set the secrets. Check that it still runs, then reload."
                )

    async def _request(
        self, kernel: _Kernel, code: str, user_expressions: dict[str, str]
    ) -> dict[str, Any] | None:
        """Send one silent execute request and wait for its reply; None if the kernel went
        away or restarted first."""
        client = self._client(kernel)
        if client is None:
            return None
        waiter = asyncio.ensure_future(
            client.execute(code, **_SILENT, user_expressions=user_expressions, reply=True)
        )
        kernel.waiter = waiter
        try:
            await asyncio.wait({waiter})
        except asyncio.CancelledError:
            waiter.cancel()
            raise
        finally:
            if kernel.waiter is waiter:
                kernel.waiter = None
        if waiter.cancelled():
            return None
        if waiter.exception() is not None:
            self.log.warning(
                "jupyterlab_secrets could not reach kernel %s: %s",
                kernel.kernel_id,
                type(waiter.exception()).__name__,
            )
            return None
        return waiter.result()

    def _send(self, kernel: _Kernel, code: str, user_expressions: dict[str, str]) -> None:
        """Send one silent execute request without waiting for its reply (the next
        `_request` on this client reads past it)."""
        client = self._client(kernel)
        if client is not None:
            client.execute(code, **_SILENT, user_expressions=user_expressions)

    def _client(self, kernel: _Kernel) -> Any:
        """The server's own client of a kernel, made on first use; None if it went away."""
        manager = kernel.manager()
        if manager is None:
            return None
        if kernel.client is None:
            # A session of its own: a client on the manager's session would take the socket
            # identity of any other client made that way, and the kernel would answer one.
            session = Session(
                key=manager.session.key,
                signature_scheme=manager.session.signature_scheme,
                username="jupyterlab_secrets",
            )
            client = manager.client(session=session)
            client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
            kernel.client = client
            kernel.sessions = [*kernel.sessions, session.session.encode()][-_SESSIONS_KEPT:]
        return kernel.client

    def _cancel_request(self, kernel: _Kernel) -> None:
        if kernel.waiter is not None:
            kernel.waiter.cancel()
            kernel.waiter = None

    def _close_client(self, kernel: _Kernel) -> None:
        client, kernel.client = kernel.client, None
        if client is not None:
            try:
                client.stop_channels()
            except Exception:  # a closed socket is what we want anyway
                pass


_SILENT: dict[str, Any] = {
    "silent": True,
    "store_history": False,
    "allow_stdin": False,
    "stop_on_error": False,
}
"""How every request of the injector runs: quietly, and whatever came before it."""


def _outcome(reply: Mapping[str, Any], token: str) -> Literal["ok", "aborted", "error"]:
    """Read an execute reply: only statuses and the outcome word the code recorded."""
    content = reply.get("content", {})
    status = content.get("status")
    if status in ("abort", "aborted"):
        return "aborted"
    if status != "ok":
        return "error"
    expression = (content.get("user_expressions") or {}).get(STATUS_EXPRESSION)
    if expression is None:
        return "ok"  # the kernel does not evaluate user expressions: the reply decides
    text = (expression.get("data") or {}).get("text/plain")
    ok = expression.get("status") == "ok" and isinstance(text, str) and f"{token}:ok" in text
    return "ok" if ok else "error"


_INSTALLED: weakref.WeakKeyDictionary[Any, KernelSecrets] = weakref.WeakKeyDictionary()


def injector_for(mapping_manager: Any) -> KernelSecrets | None:
    """The injector installed on a server's mapping kernel manager, if any."""
    if mapping_manager is None:
        return None
    try:
        return _INSTALLED.get(mapping_manager)
    except TypeError:
        return None


class SecretsKernelManager(ServerKernelManager):
    """jupyter_server's kernel manager, giving every kernel process the project's secrets at
    every start and restart, and telling `KernelSecrets` when the kernel comes and goes.

    An operator's own kernel manager class should subclass this one.
    """

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        secrets = injector_for(self.parent)
        if secrets is not None:
            # As jupyter_client does first thing in its pre-start: the ID comes with a start.
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            kw["env"] = await secrets.prepare_launch(self, kw.get("env"))
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        secrets = injector_for(self.parent)
        if secrets is not None:
            cmd = cmd + secrets.startup_arguments(self)
        return cmd

    async def _async_post_start_kernel(self, **kw: Any) -> None:
        await super()._async_post_start_kernel(**kw)
        secrets = injector_for(self.parent)
        if secrets is not None:
            await secrets.launched(self)

    async def start_kernel(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().start_kernel(*args, **kwargs)
        finally:
            secrets = injector_for(self.parent)
            if secrets is not None:
                secrets.release(self)

    async def restart_kernel(self, *args: Any, **kwargs: Any) -> Any:
        secrets = injector_for(self.parent)
        if secrets is not None:
            # Messages a client sends meanwhile would reach the new process before the
            # values that do not fit in its environment: they wait in the websocket.
            secrets.hold(self)
        try:
            return await super().restart_kernel(*args, **kwargs)
        finally:
            if secrets is not None:
                secrets.release(self)

    async def shutdown_kernel(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().shutdown_kernel(*args, **kwargs)
        finally:
            secrets = injector_for(self.parent)
            if secrets is not None and self.kernel_id and not kwargs.get("restart"):
                secrets.forget(self.kernel_id)


_CLASS_PATH = f"{SecretsKernelManager.__module__}.{SecretsKernelManager.__qualname__}"
_STOCK_CLASSES = (
    "jupyter_server.services.kernels.kernelmanager.ServerKernelManager",
    "jupyter_client.ioloop.IOLoopKernelManager",
    "jupyter_client.ioloop.manager.IOLoopKernelManager",
)


def install(
    mapping_manager: Any,
    environment: EnvironmentReader,
    marker: MarkerReader,
    *,
    poll_interval: float = 3.0,
    log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> KernelSecrets | None:
    """Make a server's kernels get the secrets; None (and a warning) where it cannot.

    Sets the mapping kernel manager's ``kernel_manager_class`` to `SecretsKernelManager`,
    unless an operator configured a class of their own that does not derive from it.
    """
    log = log or _log
    configured = getattr(mapping_manager, "kernel_manager_class", None)
    if not isinstance(configured, str):
        log.warning("jupyterlab_secrets: this server's kernels are not local; no injection.")
        return None
    if configured != _CLASS_PATH:
        from jupyter_server.utils import import_item

        if configured in _STOCK_CLASSES:
            mapping_manager.kernel_manager_class = _CLASS_PATH
        elif not issubclass(import_item(configured), SecretsKernelManager):
            log.warning(
                "jupyterlab_secrets: kernels do not get secrets, because the kernel manager "
                "class %s does not derive from %s.",
                configured,
                _CLASS_PATH,
            )
            return None
    secrets = KernelSecrets(environment, marker, poll_interval=poll_interval, log=log)
    _INSTALLED[mapping_manager] = secrets
    return secrets
