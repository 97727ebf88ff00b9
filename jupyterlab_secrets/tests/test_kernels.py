"""Every kernel the server starts gets the secrets, whichever client started it.

Kernels are started through the REST API, as nbclient, papermill or VS Code start them, and
no JupyterLab page is open. Cells run over the kernel's own connection (jupyter_client), as
nbclient runs them. What the kernel sees is asserted; how long it takes is measured in
``bench/``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_server.auth.authorizer import Authorizer

from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.kernels.languages import NAMES_VARIABLE
from jupyterlab_secrets.service import SecretsService

from .conftest import Api
from .kernels_helpers import (
    KernelClient,
    bash_spec,
    echo_spec,
    env_hex_expression,
    install_kernelspec,
    need_irkernel,
    tricky_values,
    wait_until,
)

MARKER = f"/tmp/secrets-kernel-marker-{os.getpid()}-{uuid.uuid4().hex[:8]}"
SECRETS = {
    **tricky_values(MARKER),
    "my-api-key": "sk-test-0123456789",
    "LIVE_CHANGED": "before",
    "LIVE_RENAMED": "renamed value",
    "LIVE_DELETED": "deleted soon",
}
NAMES = sorted(SECRETS)
EXPORTABLE = [name for name in NAMES if "-" not in name]


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any]) -> dict[str, Any]:
    """No background poll during a test unless the test asks: what a kernel gets then comes
    from its launch, or from a change notified by this server. These tests read injected
    values back from outputs, so redaction is off (it is tested in `test_redaction.py`)."""
    return {**secrets_config, "poll_interval": 3600.0, "redact_outputs": False}


@pytest.fixture
def ids(api: Api, jp_asyncio_loop: Any) -> dict[str, str]:
    """The secrets, stored through the API; their IDs by name."""

    async def create() -> dict[str, str]:
        created = {}
        for name in NAMES:
            reply = await api("POST", "secrets", body={"name": name, "value": SECRETS[name]})
            assert reply.status == 201, reply.body
            created[name] = reply.body["id"]
        return created

    return jp_asyncio_loop.run_until_complete(create())


class Kernels:
    """Kernels started through the REST API, and clients on their connections."""

    def __init__(self, fetch: Any, serverapp: Any) -> None:
        self.fetch = fetch
        self.serverapp = serverapp
        self.clients: list[KernelClient] = []
        self.started: list[str] = []

    async def start(self, name: str = "python3") -> str:
        reply = await self.fetch("api", "kernels", method="POST", body=json.dumps({"name": name}))
        kernel_id = json.loads(reply.body)["id"]
        self.started.append(kernel_id)
        return kernel_id

    async def client(self, kernel_id: str) -> KernelClient:
        """A client reading the kernel's connection file, ready as nbclient makes it."""
        manager = self.serverapp.kernel_manager.get_kernel(kernel_id)
        # Its own session (so its own socket identity); the manager only tells it whether
        # the kernel process lives.
        client = AsyncKernelClient(connection_file=manager.connection_file, parent=manager)
        client.load_connection_file()
        client.start_channels(hb=False)
        await client.wait_for_ready(timeout=60)
        wrapped = KernelClient(client)
        self.clients.append(wrapped)
        return wrapped

    async def status(self, kernel_id: str, *, reload: bool = False) -> dict[str, Any]:
        path = ("jupyterlab-secrets", "api", "kernels", kernel_id)
        if reload:
            reply = await self.fetch(*path, "reload", method="POST", body=b"")
        else:
            reply = await self.fetch(*path)
        return json.loads(reply.body)

    async def restart(self, kernel_id: str) -> None:
        """Restart a kernel through REST, as a client's restart button does."""
        await self.fetch("api", "kernels", kernel_id, "restart", method="POST", body=b"")

    async def stop(self, kernel_id: str) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()
        await self.fetch("api", "kernels", kernel_id, method="DELETE")
        self.started.remove(kernel_id)

    async def close(self) -> None:
        for client in self.clients:
            client.close()
        for kernel_id in list(self.started):
            await self.fetch("api", "kernels", kernel_id, method="DELETE", raise_error=False)


@pytest.fixture
def kernels(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Kernels]:
    """Kernels the test starts, shut down after it."""
    started = Kernels(jp_fetch, jp_serverapp)
    yield started
    jp_asyncio_loop.run_until_complete(started.close())


def kernel_env(seen: str) -> dict[str, str | None]:
    return json.loads(seen)


def wrong(seen: dict[str, str | None], expected: dict[str, str]) -> list[str]:
    """The names whose bytes in the kernel differ from the stored value."""
    return [n for n in expected if seen.get(n) != expected[n].encode().hex()]


ENV_CHECK = f"print({env_hex_expression(NAMES)})"


# -- at launch -------------------------------------------------------------------------------


async def test_the_first_cell_of_a_rest_started_kernel_sees_every_secret_20_times(
    ids: dict[str, str], kernels: Kernels
) -> None:
    for _ in range(20):
        # Given a kernel started through REST, with no page open
        kernel_id = await kernels.start()
        # When a cell is sent the moment the kernel exists
        execution = await (await kernels.client(kernel_id)).run(ENV_CHECK)
        # Then it is the first cell, and every value is there byte for byte
        assert execution.reply["content"]["status"] == "ok"
        assert execution.count == 1
        assert wrong(json.loads(execution.stdout), SECRETS) == []
        await kernels.stop(kernel_id)
    assert not Path(MARKER).exists()


async def test_the_status_lists_names_never_values(
    ids: dict[str, str], kernels: Kernels, api: Api
) -> None:
    kernel_id = await kernels.start()

    status = await kernels.status(kernel_id)

    assert status == {
        "kernel_id": kernel_id,
        "language": "python",
        "state": "loaded",
        "names": NAMES,
        "skipped": [],
        "message": None,
    }
    assert await kernels.status(kernel_id, reload=True) == status
    text = json.dumps(status)
    for value in SECRETS.values():
        assert value not in text


async def test_an_unknown_kernel_is_404(ids: dict[str, str], api: Api) -> None:
    for method in ("GET", "POST"):
        tail = () if method == "GET" else ("reload",)
        reply = await api(method, "kernels", "0123-not-a-kernel", *tail)
        assert reply.status == 404
        assert reply.body == {"message": "No such kernel."}


async def test_a_rest_restart_starts_with_the_current_secrets(
    ids: dict[str, str],
    kernels: Kernels,
    jp_fetch: Any,
    extension: SecretsExtension,
) -> None:
    # Given a running kernel
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    await client.run("x = 1")
    # and changes made where this server does not see them (another server's CLI, say)
    service = direct_service(extension)
    change_directly(service, ids)
    kernels.clients.remove(client)
    client.close()

    # When a client restarts the kernel through REST
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body=b"")

    # Then its first cell sees the current secrets: changed, renamed, deleted
    execution = await (await kernels.client(kernel_id)).run(ENV_CHECK_LIVE)
    assert execution.count == 1
    assert json.loads(execution.stdout) == AFTER_CHANGE
    names = (await kernels.status(kernel_id))["names"]
    assert "LIVE_NEW_NAME" in names and "LIVE_DELETED" not in names


async def test_an_automatic_restart_starts_with_the_current_secrets(
    ids: dict[str, str], kernels: Kernels, extension: SecretsExtension, jp_serverapp: Any
) -> None:
    # Given a running kernel, and secrets changed behind this server's back
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    pid = int((await client.run("print(__import__('os').getpid())")).stdout)
    change_directly(direct_service(extension), ids)
    kernels.clients.remove(client)
    client.close()

    # When the kernel process dies, and the server restarts it on its own
    os.kill(pid, signal.SIGKILL)
    manager = jp_serverapp.kernel_manager.get_kernel(kernel_id)

    async def restarted() -> bool:
        process = getattr(manager.provisioner, "process", None)
        return process is not None and process.pid != pid and process.poll() is None

    await wait_until(restarted, what="the automatic restart")

    # Then the first cell of the new process sees the current secrets
    fresh = await kernels.client(kernel_id)
    execution = await fresh.run(ENV_CHECK_LIVE + "\nprint(__import__('os').getpid())")
    lines = execution.stdout.splitlines()
    assert int(lines[1]) != pid
    assert execution.count == 1
    assert json.loads(lines[0]) == AFTER_CHANGE


# -- live changes ----------------------------------------------------------------------------

LIVE = ["LIVE_CHANGED", "LIVE_RENAMED", "LIVE_NEW_NAME", "LIVE_DELETED"]
ENV_CHECK_LIVE = f"print({env_hex_expression(LIVE)})"
AFTER_CHANGE = {
    "LIVE_CHANGED": b"after".hex(),
    "LIVE_RENAMED": None,
    "LIVE_NEW_NAME": b"renamed value".hex(),
    "LIVE_DELETED": None,
}


def direct_service(extension: SecretsExtension) -> SecretsService:
    """The same project's service, but not the server's: it has no listener, so its changes
    reach this server's kernels only through the poll, as another server's would."""
    assert extension.store is not None
    return SecretsService(extension.store, extension.project, extension.communities)


def change_directly(service: SecretsService, ids: dict[str, str]) -> None:
    version = service.get("bob", ids["LIVE_CHANGED"]).version
    service.patch("bob", ids["LIVE_CHANGED"], version, value="after")
    version = service.get("bob", ids["LIVE_RENAMED"]).version
    service.patch("bob", ids["LIVE_RENAMED"], version, name="LIVE_NEW_NAME")
    service.delete("bob", ids["LIVE_DELETED"])


async def change_through(api: Api, ids: dict[str, str]) -> None:
    for secret, body in (
        ("LIVE_CHANGED", {"value": "after"}),
        ("LIVE_RENAMED", {"name": "LIVE_NEW_NAME"}),
    ):
        version = (await api("GET", "secrets", ids[secret])).body["version"]
        reply = await api("PATCH", "secrets", ids[secret], body={"version": version, **body})
        assert reply.status == 200, reply.body
    assert (await api("DELETE", "secrets", ids["LIVE_DELETED"])).status == 204


async def test_a_change_through_this_server_reaches_a_kernel_with_no_page_open(
    ids: dict[str, str], kernels: Kernels, api: Api
) -> None:
    # Given a running kernel that ran a cell
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    await client.run("x = 1")

    # When secrets are changed, renamed and deleted through the API (no poll is due)
    await change_through(api, ids)

    # Then the running kernel gets the new set, without a restart
    async def arrived() -> bool:
        return kernel_env(await client.peek(env_hex_expression(LIVE))) == AFTER_CHANGE

    await wait_until(arrived, what="the change in the kernel")
    # (the kernel holds the values before its reply, which makes the status "loaded", is read)
    await wait_until(lambda: _loaded(kernels, kernel_id), what="the kernel to confirm the change")
    status = await kernels.status(kernel_id)
    assert "LIVE_NEW_NAME" in status["names"] and "LIVE_DELETED" not in status["names"]
    # and the other values are untouched, the user's count too
    execution = await client.run(ENV_CHECK)
    assert (
        wrong(json.loads(execution.stdout), {k: SECRETS[k] for k in NAMES if "TRICKY" in k}) == []
    )
    assert execution.count == 2


async def test_a_change_on_another_server_reaches_a_kernel_at_the_next_poll(
    ids: dict[str, str],
    kernels: Kernels,
    start_server: Callable[[str], Any],
    extension: SecretsExtension,
) -> None:
    # Given a running kernel, and another server of the same project and store
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    other = start_server("default")
    injector = extension.kernel_secrets
    assert injector is not None
    injector.poll_interval = 0.2
    injector.notify_changed()  # end the long wait the fixture set up

    # When the secrets change there
    await change_through(other.api, ids)

    # Then this server's poll finds the change, and the kernel gets it
    async def arrived() -> bool:
        return kernel_env(await client.peek(env_hex_expression(LIVE))) == AFTER_CHANGE

    await wait_until(arrived, what="the change in the kernel")


class GatedCell:
    """A cell that says it started (writing what ``LIVE_CHANGED`` is then), and ends only when
    the test opens its gate; it prints ``LIVE_CHANGED`` as it ends."""

    def __init__(self, root: Path, name: str) -> None:
        self.started, self.gate = root / f"{name}.started", root / f"{name}.gate"
        self.code = (
            "import os, time\n"
            f"open({str(self.started)!r}, 'w').write(os.environ.get('LIVE_CHANGED', ''))\n"
            f"while not os.path.exists({str(self.gate)!r}): time.sleep(0.02)\n"
            "print(os.environ.get('LIVE_CHANGED'))"
        )

    async def running(self) -> str:
        """Wait until the cell runs; what ``LIVE_CHANGED`` was when it started."""

        async def started() -> bool:
            return self.started.exists()

        await wait_until(started, what=f"the cell {self.started.stem!r} to start")
        return self.started.read_text()

    def open(self) -> None:
        self.gate.touch()


async def test_a_busy_kernel_gets_the_change_once_its_cell_is_done(
    ids: dict[str, str], kernels: Kernels, api: Api, jp_serverapp: Any
) -> None:
    # Given a kernel busy with a long cell
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    cell = GatedCell(Path(jp_serverapp.root_dir), "long")
    busy = asyncio.ensure_future(client.run(cell.code))
    await cell.running()

    # When the secrets change meanwhile
    await change_through(api, ids)
    await wait_until(
        lambda: _pending(kernels, kernel_id), what="the injection to wait for the kernel"
    )
    cell.open()

    # Then the cell finishes with what it had, and the kernel gets the change afterwards
    assert (await busy).stdout == "before\n"

    async def arrived() -> bool:
        return kernel_env(await client.peek(env_hex_expression(LIVE))) == AFTER_CHANGE

    await wait_until(arrived, what="the change in the kernel")
    # (the kernel holds the values a moment before the server reads its reply)
    await wait_until(lambda: _loaded(kernels, kernel_id), what="the kernel to confirm the change")
    status = await kernels.status(kernel_id)
    assert "LIVE_NEW_NAME" in status["names"] and "LIVE_DELETED" not in status["names"]


async def test_the_status_says_loaded_while_a_cell_queued_after_the_change_runs(
    ids: dict[str, str], kernels: Kernels, api: Api, jp_serverapp: Any
) -> None:
    # Given a kernel (that the server has talked to since it started, so its next request
    # does not wait for a connection and reaches the kernel as soon as it is sent)
    kernel_id = await kernels.start()
    assert (await kernels.status(kernel_id, reload=True))["state"] == "loaded"
    # busy with a cell, a change waiting for it,
    first, second = await kernels.client(kernel_id), await kernels.client(kernel_id)
    root = Path(jp_serverapp.root_dir)
    busy, queued = GatedCell(root, "busy"), GatedCell(root, "queued")
    busy_run = asyncio.ensure_future(first.run(busy.code))
    assert await busy.running() == "before"
    version = (await api("GET", "secrets", ids["LIVE_CHANGED"])).body["version"]
    reply = await api(
        "PATCH", "secrets", ids["LIVE_CHANGED"], body={"version": version, "value": "after"}
    )
    assert reply.status == 200, reply.body
    await wait_until(
        lambda: _pending(kernels, kernel_id), what="the injection to wait for the kernel"
    )
    # and a cell of another client queued behind the change
    queued_run = asyncio.ensure_future(second.run(queued.code))

    # When the busy cell ends: the kernel takes the change, then runs the queued cell
    busy.open()
    assert await queued.running() == "after"

    # Then the status says loaded while that cell still runs, as the kernel has the change
    await wait_until(
        lambda: _loaded(kernels, kernel_id), what="the status to say loaded during the next cell"
    )
    assert not queued_run.done()
    assert (await kernels.status(kernel_id))["names"] == NAMES
    queued.open()
    assert (await queued_run).stdout == "after\n"
    assert (await busy_run).stdout == "before\n"


async def _pending(kernels: Kernels, kernel_id: str) -> bool:
    return (await kernels.status(kernel_id))["state"] == "pending"


async def test_each_change_reaches_each_kernel_once(
    ids: dict[str, str], kernels: Kernels, api: Api, extension: SecretsExtension
) -> None:
    # Given two running kernels
    first, second = await kernels.start(), await kernels.start()
    clients = [await kernels.client(first), await kernels.client(second)]
    # that count the times their environment's name list is set
    counter = (
        "import os\n"
        "def _count(environ=os.environ):\n"
        "    original = type(environ).__setitem__\n"
        "    def setitem(self, name, value, _original=original):\n"
        f"        if name == {NAMES_VARIABLE!r}:\n"
        "            setitem.calls += 1\n"
        "        _original(self, name, value)\n"
        "    setitem.calls = 0\n"
        "    type(environ).__setitem__ = setitem\n"
        "    return setitem\n"
        "_counter = _count()\n"
    )
    for client in clients:
        await client.run(counter)

    # When one change is made, then the server is told twice more that things changed
    version = (await api("GET", "secrets", ids["LIVE_CHANGED"])).body["version"]
    await api("PATCH", "secrets", ids["LIVE_CHANGED"], body={"version": version, "value": "x"})
    injector = extension.kernel_secrets
    assert injector is not None

    async def both_have_it() -> bool:
        values = [await c.peek("__import__('os').environ['LIVE_CHANGED']") for c in clients]
        return values == ["x", "x"]

    await wait_until(both_have_it, what="the change in both kernels")
    for _ in range(2):
        injector.notify_changed()
        await injector._refresh()

    # Then each kernel ran the injection exactly once
    for client in clients:
        assert await client.peek("str(_counter.calls)") == "1"


# -- quiet -----------------------------------------------------------------------------------

SNAPSHOT = """print(__import__('json').dumps({
    'globals': sorted(globals()),
    'In': In,
    'Out': sorted(map(str, Out)),
    'recent': [str(_), _i, _ii, _iii],
    'last': getattr(getattr(get_ipython().last_execution_result, 'info', None), 'raw_cell', ''),
    'history': [
        list(map(str, r)) for r in get_ipython().history_manager.get_range(raw=True, output=True)
    ],
    'count': get_ipython().execution_count,
}))"""

HISTORY_SEARCH = (
    "print(__import__('json').dumps([list(map(str, r)) for p in ('*b64' + 'decode*', "
    "'*JUPYTERLAB' + '_SECRETS*', '*jupyterlab' + '_secrets*', '*exec' + '(*') "
    "for r in get_ipython().history_manager.search(p, raw=True)]))"
)


async def test_injections_leave_nothing_in_history_count_namespace_or_last_result(
    ids: dict[str, str], kernels: Kernels, api: Api
) -> None:
    # Given two kernels, one of which gets two more injections (a reload, and a change)
    plain_id, injected_id = await kernels.start(), await kernels.start()
    plain, injected = await kernels.client(plain_id), await kernels.client(injected_id)
    assert (await kernels.status(injected_id, reload=True))["state"] == "loaded"
    version = (await api("GET", "secrets", ids["LIVE_CHANGED"])).body["version"]
    await api("PATCH", "secrets", ids["LIVE_CHANGED"], body={"version": version, "value": "v2"})
    await wait_until(lambda: _has(injected, "LIVE_CHANGED", "v2"), what="the change in the kernel")
    await wait_until(lambda: _has(plain, "LIVE_CHANGED", "v2"), what="the change in the kernel")

    # When each runs the same cells
    first = [await plain.run(SNAPSHOT), await injected.run(SNAPSHOT)]
    second = [await plain.run(SNAPSHOT), await injected.run(SNAPSHOT)]

    # Then the user sees the same in both: counts, In/Out, _, _i, history, globals
    for without, with_injections in (first, second):
        assert with_injections.stderr == ""
        assert json.loads(with_injections.stdout) == json.loads(without.stdout)
        assert with_injections.count == without.count
    assert json.loads(first[1].stdout)["last"] == ""
    assert first[1].count == 1 and second[1].count == 2
    search = await injected.run(HISTORY_SEARCH)
    assert json.loads(search.stdout) == []
    # and nothing but the user's cells produced output
    assert [e.outputs for e in first + second] == [[], [], [], []]
    # and, once a reload answered, IPython's last result holds nothing of it
    assert (await kernels.status(injected_id, reload=True))["state"] == "loaded"
    last = await injected.run(LAST_CELL)
    assert last.stdout == "''\n"


LAST_CELL = (
    "print(repr(getattr(getattr(get_ipython().last_execution_result, 'info', None), "
    "'raw_cell', None)))"
)


async def _has(client: KernelClient, name: str, value: str) -> bool:
    return await client.peek(f"__import__('os').environ.get({name!r}, '')") == value


# -- #!:bash ---------------------------------------------------------------------------------


async def test_a_bash_cell_works_as_the_very_first_cell(
    ids: dict[str, str], kernels: Kernels
) -> None:
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)

    execution = await client.run(
        "#!:bash\n"
        'echo "shell $BASH_VERSION" | cut -c1-6\n'
        f"for n in {' '.join(NAMES)}; do\n"
        "  printf '%s=' \"$n\"; printenv \"$n\" | od -An -v -tx1 | tr -d ' \\n'; echo\n"
        "done"
    )

    assert execution.count == 1
    shell, *lines = execution.stdout.strip().splitlines()
    assert shell == "shell "
    seen = dict(line.split("=", 1) for line in lines)
    # every value, byte for byte: printenv reads a hyphenated name too
    assert [n for n in NAMES if seen[n] != (SECRETS[n] + "\n").encode().hex()] == []
    # and the transformer is there once, however often the secrets are set
    await kernels.status(kernel_id, reload=True)
    await kernels.status(kernel_id, reload=True)
    count = await client.peek(
        "str(sum(1 for t in get_ipython().input_transformers_cleanup "
        "if getattr(t, 'jupyterlab_secrets', False)))"
    )
    assert count == "1"
    # with no value in the namespace it lives in
    left = await client.peek(
        "str(sorted(k for k in [t for t in get_ipython().input_transformers_cleanup "
        "if getattr(t, 'jupyterlab_secrets', False)][0].__globals__ "
        "if k in ('SECRETS', 'fields', 'values')))"
    )
    assert left == "[]"
    assert not Path(MARKER).exists()


async def test_only_a_first_line_marker_makes_a_bash_cell_and_its_arguments_reach_bash(
    ids: dict[str, str], kernels: Kernels
) -> None:
    client = await kernels.client(await kernels.start())

    # The marker's arguments go to %%bash
    await client.run('#!:bash --out captured\necho "args pass through"')
    assert await client.peek("captured") == "args pass through\n"
    # Anywhere else, or written otherwise, the cell stays Python
    for code in (
        "x = 1\n#!:bash\nprint('python ran')",  # on a later line
        "# !:bash\nprint('python ran')",  # after a space
        "#!:bashful\nprint('python ran')",  # as part of a word
        " #!:bash\nprint('python ran')",  # indented
    ):
        execution = await client.run(code)
        assert (execution.stdout, execution.stderr, execution.outputs) == ("python ran\n", "", [])


# -- other languages -------------------------------------------------------------------------

BASH_PRINTENV = "\n".join(
    [
        f"for n in {' '.join(EXPORTABLE)}; do",
        "  printf '%s=' \"$n\"; printenv \"$n\" | od -An -v -tx1 | tr -d ' \\n'; echo",
        "done",
    ]
)


async def test_bash_kernels_get_every_exportable_secret_and_say_what_they_skip(
    ids: dict[str, str], kernels: Kernels, api: Api, jp_data_dir: Path
) -> None:
    install_kernelspec(jp_data_dir, "bash", bash_spec())
    kernel_id = await kernels.start("bash")
    client = await kernels.client(kernel_id)
    await client.run("echo canary-7781")

    execution = await client.run(BASH_PRINTENV)

    seen = dict(line.split("=", 1) for line in execution.stdout.strip().splitlines())
    assert [n for n in EXPORTABLE if seen[n] != (SECRETS[n] + "\n").encode().hex()] == []
    status = await kernels.status(kernel_id)
    assert status["language"] == "bash"
    assert status["state"] == "loaded"
    assert status["names"] == EXPORTABLE
    assert [s["name"] for s in status["skipped"]] == ["my-api-key"]
    assert "hyphen" in status["skipped"][0]["reason"]
    assert (await client.run("printenv my-api-key || echo unset")).stdout.strip() == "unset"

    # A live change arrives, without a value in the shell's history
    await change_through(api, ids)

    async def arrived() -> bool:
        probe = await client.run('echo "${LIVE_CHANGED}|${LIVE_DELETED-unset}|${LIVE_NEW_NAME}"')
        return probe.stdout.strip() == "after|unset|renamed value"

    await wait_until(arrived, what="the change in the bash kernel")
    history = (await client.run("[[ -o history ]] && echo on; HISTTIMEFORMAT= history")).stdout
    assert "on" in history and "echo canary-7781" in history
    for text in ("jupyterlab_secrets", "__jls", "base64 -d", "set +o history", "after"):
        assert text not in history
    for value in SECRETS.values():
        assert value not in history
        assert base64.b64encode(value.encode()).decode() not in history
    # nor a shell variable or function of its own
    left = await client.run(
        "(set -o posix; set) | grep -c -e '^__jls' -e '^__jupyterlab'; "
        "declare -F | grep -c jupyterlab"
    )
    assert left.stdout.split() == ["0", "0"]
    # A value of 64 KiB, typed into bash's line editor, goes when it is deleted
    assert (await api("DELETE", "secrets", ids["TRICKY_BIG"])).status == 204

    async def big_gone() -> bool:
        return (await client.run('echo "${TRICKY_BIG-unset}"')).stdout == "unset\n"

    await wait_until(big_gone, what="the deletion in the bash kernel")
    # History the user turned off stays off
    await client.run("set +o history")
    await kernels.status(kernel_id, reload=True)
    assert (await client.run("[[ -o history ]] && echo on || echo off")).stdout == "off\n"

    # After a restart, the first cell has every exportable secret that is left
    await kernels.restart(kernel_id)
    restarted = await (await kernels.client(kernel_id)).run(BASH_PRINTENV)
    assert restarted.count == 1
    seen = dict(line.split("=", 1) for line in restarted.stdout.strip().splitlines())
    expected = {n: (SECRETS[n] + "\n").encode().hex() for n in EXPORTABLE}
    expected.update(LIVE_CHANGED=b"after\n".hex(), LIVE_RENAMED="", LIVE_DELETED="", TRICKY_BIG="")
    assert [n for n in EXPORTABLE if seen[n] != expected[n]] == []
    assert not Path(MARKER).exists()


async def test_r_kernels_get_every_secret_byte_for_byte(
    ids: dict[str, str], kernels: Kernels, api: Api, jp_data_dir: Path
) -> None:
    install_kernelspec(jp_data_dir, "ir", need_irkernel())
    kernel_id = await kernels.start("ir")
    client = await kernels.client(kernel_id)
    names = ", ".join(f"'{n}'" for n in NAMES)
    print_hex = (
        f"local({{ for (n in c({names})) {{ cat(n, '=', "
        "paste(as.character(charToRaw(Sys.getenv(n))), collapse = ''), '\\n', sep = '') } })"
    )

    execution = await client.run(print_hex)

    assert execution.reply["content"]["status"] == "ok"
    assert execution.count == 1
    seen = dict(line.split("=", 1) for line in execution.stdout.strip().splitlines())
    assert [n for n in NAMES if seen[n] != SECRETS[n].encode().hex()] == []
    status = await kernels.status(kernel_id)
    assert (status["language"], status["state"], status["names"]) == ("R", "loaded", NAMES)

    # A live change arrives, and leaves no name in the global environment
    await change_through(api, ids)

    async def arrived() -> bool:
        probe = await client.run(
            "cat(Sys.getenv('LIVE_CHANGED'), Sys.getenv('LIVE_DELETED', 'unset'), "
            "Sys.getenv('LIVE_NEW_NAME'), sep = '|')"
        )
        return probe.stdout.strip() == "after|unset|renamed value"

    await wait_until(arrived, what="the change in the R kernel")
    assert (await kernels.status(kernel_id))["state"] == "loaded"
    left = (await client.run("cat(ls(all.names = TRUE), sep = '\\n')")).stdout.split()
    for name in ("token", "decode", "secrets", "old", "gone"):
        assert name not in left
    assert not Path(MARKER).exists()


async def test_a_kernel_of_another_language_gets_nothing_and_says_so(
    ids: dict[str, str], kernels: Kernels, jp_data_dir: Path
) -> None:
    install_kernelspec(jp_data_dir, "echo", echo_spec())
    kernel_id = await kernels.start("echo")

    status = await kernels.status(kernel_id, reload=True)

    assert status["state"] == "unsupported"
    assert status["language"] == "echo"
    assert status["names"] == []
    assert sorted(s["name"] for s in status["skipped"]) == NAMES
    assert "echo" in status["message"]
    client = await kernels.client(kernel_id)
    execution = await client.run("hello")
    assert execution.stdout == "hello" and execution.count == 1
    # and no request but the user's reached it
    assert (await client.run("requests?")).stdout == "2"


# -- for other parts of the server -----------------------------------------------------------


async def test_secrets_for_answers_what_a_kernel_holds(
    ids: dict[str, str], kernels: Kernels, api: Api, extension: SecretsExtension
) -> None:
    injector = extension.kernel_secrets
    assert injector is not None
    kernel_id = await kernels.start()
    assert dict(injector.secrets_for(kernel_id)) == SECRETS
    assert dict(injector.secrets_for("no-such-kernel")) == {}

    await change_through(api, ids)
    client = await kernels.client(kernel_id)
    await wait_until(lambda: _has(client, "LIVE_CHANGED", "after"), what="the change")
    await wait_until(lambda: _loaded(kernels, kernel_id), what="the kernel to confirm the change")

    held = dict(injector.secrets_for(kernel_id))
    assert held["LIVE_CHANGED"] == "after" and held["LIVE_NEW_NAME"] == "renamed value"
    assert "LIVE_DELETED" not in held and "LIVE_RENAMED" not in held


async def _loaded(kernels: Kernels, kernel_id: str) -> bool:
    return (await kernels.status(kernel_id))["state"] == "loaded"


class ReadOnlyAuthorizer(Authorizer):
    """Allows reading only."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return action == "read"


async def test_reload_needs_execute_and_status_needs_read(
    ids: dict[str, str], kernels: Kernels, jp_serverapp: Any, api: Api
) -> None:
    kernel_id = await kernels.start()
    jp_serverapp.web_app.settings["authorizer"] = ReadOnlyAuthorizer(parent=jp_serverapp)

    assert (await api("GET", "kernels", kernel_id)).status == 200
    assert (await api("POST", "kernels", kernel_id, "reload")).status == 403


async def test_a_restart_gives_back_a_server_variable_a_deleted_secret_had_replaced(
    ids: dict[str, str],
    kernels: Kernels,
    api: Api,
    jp_fetch: Any,
    extension: SecretsExtension,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a variable of the server's own environment, and a secret of the same name
    monkeypatch.setenv("SHARED_NAME", "the server's own")
    reply = await api("POST", "secrets", body={"name": "SHARED_NAME", "value": "the secret"})
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    assert await _has(client, "SHARED_NAME", "the secret")

    # When the secret is deleted behind this server's back, and the kernel restarted
    direct_service(extension).delete("bob", reply.body["id"])
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body=b"")

    # Then the kernel has the server's value again, as it would without the extension
    fresh = await kernels.client(kernel_id)
    assert await _has(fresh, "SHARED_NAME", "the server's own")
    names = await fresh.peek(f"__import__('os').environ[{NAMES_VARIABLE!r}]")
    assert "SHARED_NAME" not in names.split(",")


async def test_a_kernel_that_cannot_set_them_says_so_and_recovers(
    ids: dict[str, str], kernels: Kernels
) -> None:
    # Given a kernel whose environment cannot be updated
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    await client.run("import os\nos.environ.update = None")

    # When the secrets are set in it, then again once it can take them
    failed = await kernels.status(kernel_id, reload=True)
    await client.run("del os.environ.update")
    recovered = await kernels.status(kernel_id, reload=True)

    # Then its status says it failed, then that it holds them
    assert failed["state"] == "error"
    assert failed["message"]
    for value in SECRETS.values():
        assert value not in failed["message"]
    assert recovered["state"] == "loaded" and recovered["message"] is None
    assert recovered["names"] == NAMES


async def test_a_kernel_started_while_the_store_fails_runs_and_says_why(
    ids: dict[str, str], kernels: Kernels, extension: SecretsExtension
) -> None:
    # Given a store that cannot be read
    injector = extension.kernel_secrets
    assert injector is not None

    def broken() -> str:
        raise OSError("database is locked")

    injector._read_marker = broken

    # When a kernel starts
    kernel_id = await kernels.start()

    # Then it runs, without secrets, and its status says why
    execution = await (await kernels.client(kernel_id)).run(ENV_CHECK)
    assert execution.count == 1
    assert set(json.loads(execution.stdout).values()) == {None}
    status = await kernels.status(kernel_id)
    assert status["state"] == "error"
    assert status["names"] == []
    assert "OSError" in status["message"]


async def test_no_value_reaches_the_server_log(
    ids: dict[str, str], kernels: Kernels, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the server logging everything it logs by default at DEBUG
    caplog.set_level(logging.DEBUG)
    # When kernels start, restart, get a change and are reloaded
    kernel_id = await kernels.start()
    client = await kernels.client(kernel_id)
    fresh_value = "changed-" + uuid.uuid4().hex
    version = (await api("GET", "secrets", ids["LIVE_CHANGED"])).body["version"]
    await api(
        "PATCH", "secrets", ids["LIVE_CHANGED"], body={"version": version, "value": fresh_value}
    )
    await wait_until(lambda: _has(client, "LIVE_CHANGED", fresh_value), what="the change")
    await kernels.status(kernel_id, reload=True)

    # Then no value, nor its base64 form, is in the log
    assert "Starting kernel" in caplog.text  # the log was captured
    distinctive = [fresh_value, SECRETS["my-api-key"], SECRETS["TRICKY_PEM"].splitlines()[1]]
    for value in distinctive:
        assert value not in caplog.text
        assert base64.b64encode(value.encode()).decode() not in caplog.text
