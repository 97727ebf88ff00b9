"""The kernel websocket connection that redacts secret values on their way to clients.

jupyter_server hands every kernel websocket to an instance of its
``ServerApp.kernel_websocket_connection_class``. The extension puts a subclass of the
configured class there that, before anything is sent, redacts every message of both
websocket protocols (the JSON one and ``v1.kernel.websocket.jupyter.org``), of any type but
the few that carry nothing of the kernel's (`redaction.EXEMPT_TYPES`), including those
buffered while no client was connected and replayed later. It also drops what the kernel
broadcasts about the server's own injection requests, and holds what clients send a kernel
while it is (re)starting and has not yet been given every secret (see `kernels.injector`).

Redaction works on the message parts as the kernel packed them: a message whose packed
metadata and content cannot hold a secret goes on untouched (not even decoded); one that may
is decoded, redacted, packed again and signed again with the kernel's session key (which the
server holds), so that the rest of jupyter_server handles it as any other message. Binary
buffers (of widgets' comm messages, say) are searched as bytes.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from jupyter_client.session import DELIM
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from .redaction import Matcher, Redactor

if TYPE_CHECKING:
    from .kernels.injector import KernelSecrets

SETTINGS_KEY = "jupyterlab_secrets_redactor"
"""Where the `Redactor` sits in the tornado settings, for the connections to find it (None
when redaction is off)."""

INJECTOR_KEY = "jupyterlab_secrets_kernel_secrets"
"""Where the `KernelSecrets` sits in the tornado settings, for the connections to find it."""

_JSON_PACKERS = frozenset({"json", "orjson"})


class RedactingConnectionMixin:
    """Redacts the outgoing messages of a `ZMQChannelsWebsocketConnection` subclass."""

    _backlog: list[tuple[Any, list[Any]]] | None = None
    _drainer: asyncio.Future[None] | None = None
    _inbox: list[Any] | None = None
    _forwarder: asyncio.Future[None] | None = None

    _target: tuple[Redactor | None, KernelSecrets | None, str] | None = None

    @property
    def redactor(self) -> Redactor | None:
        """The server's redactor; None when redaction is off."""
        return self._redaction_target()[0]

    def _redaction_target(self) -> tuple[Redactor | None, KernelSecrets | None, str]:
        """The server's redactor and injector, and this connection's kernel, looked up once:
        they never change, and each lookup goes through traitlets, on every message."""
        target = self._target
        if target is None:
            settings = self.websocket_handler.settings  # type: ignore[attr-defined]
            target = self._target = (
                settings.get(SETTINGS_KEY),
                settings.get(INJECTOR_KEY),
                self.kernel_id,  # type: ignore[attr-defined]
            )
        return target

    # -- from clients to the kernel ----------------------------------------------------------

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        """Pass a client's message on to the kernel, unless the kernel is (re)starting and
        not yet given every secret: then it waits, in order with the messages after it."""
        _, kernel_secrets, kernel_id = self._redaction_target()
        gate = kernel_secrets.gate(kernel_id) if kernel_secrets is not None else None
        if self._inbox is None and gate is None:
            super().handle_incoming_message(incoming_msg)  # type: ignore[misc]
            return
        if self._inbox is None:
            self._inbox = []
            self._forwarder = asyncio.ensure_future(self._forward())
        self._inbox.append(incoming_msg)

    async def _forward(self) -> None:
        """Pass on the waiting messages in order, once the kernel holds every secret."""
        inbox = self._inbox
        assert inbox is not None
        _, kernel_secrets, kernel_id = self._redaction_target()
        try:
            while inbox:
                gate = kernel_secrets.gate(kernel_id) if kernel_secrets is not None else None
                if gate is not None:
                    await asyncio.wait({gate})
                    continue
                super().handle_incoming_message(inbox.pop(0))  # type: ignore[misc]
        finally:
            self._inbox = None

    # -- from the kernel to clients ----------------------------------------------------------

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Redact a message, then pass it on as jupyter_server would. While the matcher of
        the kernel's new secrets compiles (in a thread), the next message that needs it and
        every message after it wait, in order; messages that show nothing of the kernel's (a
        status, the kernel's info) go on before that, so a new kernel is ready without
        waiting. What the kernel broadcasts about the server's own requests is dropped."""
        redactor, kernel_secrets, kernel_id = self._redaction_target()
        if kernel_secrets is not None and self._about_own_request(
            kernel_secrets, kernel_id, stream, outgoing_msg
        ):
            return
        if redactor is None:
            super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
            return
        if self._backlog is None:
            matcher = redactor.ready(kernel_id)
            if matcher is not None:
                self._pass_on(matcher, stream, outgoing_msg)
                return
            if not self._needs_matcher(outgoing_msg):
                super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
                return
            self._backlog = []
            # Held, so that the event loop's weak reference is not the only one.
            self._drainer = asyncio.ensure_future(self._drain())
        self._backlog.append((stream, outgoing_msg))

    def _about_own_request(
        self, kernel_secrets: KernelSecrets, kernel_id: str, stream: Any, msg_list: list[Any]
    ) -> bool:
        """Whether a message is the kernel's broadcast about one of the server's injection
        requests: its status, or its code, which IRkernel echoes though the request is
        silent, and which carries the values (base64-encoded)."""
        sessions = kernel_secrets.own_sessions(kernel_id)
        if not sessions:
            return False
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        if channel != "iopub":
            return False  # replies go to the client that asked, and the server asked these
        try:
            # After the delimiter: signature, header, parent header, ...
            parent = _as_bytes(msg_list[_delimiter_index(msg_list) + 3])
        except Exception:
            return False
        # A session ID is 32 random hex digits: only a message about that session's requests
        # holds it in its parent header.
        return any(session in parent for session in sessions)

    async def _drain(self) -> None:
        """Pass on the waiting messages in order, compiling matchers off the event loop."""
        backlog = self._backlog
        assert backlog is not None
        try:
            while backlog:
                stream, outgoing_msg = backlog.pop(0)
                redactor, _, kernel_id = self._redaction_target()
                if redactor is None:
                    super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
                    continue
                matcher = redactor.ready(kernel_id)
                if matcher is None:
                    try:
                        matcher = await asyncio.to_thread(redactor.matcher, kernel_id)
                    except Exception:
                        self._dropped()
                        continue
                self._pass_on(matcher, stream, outgoing_msg)
        finally:
            self._backlog = None

    def _pass_on(self, matcher: Matcher, stream: Any, outgoing_msg: list[Any]) -> None:
        try:
            outgoing_msg = self._redacted(matcher, outgoing_msg)
        except Exception:
            self._dropped()
            return
        super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]

    def _dropped(self) -> None:
        # A message that cannot be checked is not sent: it might hold a secret.
        self.log.error(  # type: ignore[attr-defined]
            "jupyterlab_secrets dropped a kernel message it could not check for secrets",
            exc_info=True,
        )

    def _needs_matcher(self, msg_list: list[Any]) -> bool:
        """Whether a message is of a type that is redacted (or cannot be read: it may)."""
        try:
            parts = msg_list[_delimiter_index(msg_list) + 1 :]
            session = self.session  # type: ignore[attr-defined]
            json_packed = session.packer in _JSON_PACKERS
            return Redactor.wants(_msg_type(session, _as_bytes(parts[1]), json_packed))
        except Exception:
            return True

    def _redacted(self, matcher: Matcher, msg_list: list[Any]) -> list[Any]:
        """The message parts with the kernel's secrets redacted; the same list if none."""
        if not matcher:
            return msg_list
        session = self.session  # type: ignore[attr-defined]
        delim = _delimiter_index(msg_list)
        # After the delimiter: signature, header, parent header, metadata, content, buffers.
        parts = msg_list[delim + 1 :]
        if len(parts) < 5:
            return msg_list
        json_packed = session.packer in _JSON_PACKERS
        if not Redactor.wants(_msg_type(session, _as_bytes(parts[1]), json_packed)):
            return msg_list
        signed = [_as_bytes(part) for part in parts[1:5]]
        changed = False
        # The content first, and the metadata (a display's, say), which the kernel fills too.
        for index in (3, 2):
            packed = signed[index]
            if json_packed and not matcher.may_hold(packed):
                continue
            unpacked = session.unpack(packed)
            redacted = matcher.redact_tree(unpacked)
            if redacted is not unpacked:
                signed[index] = session.pack(redacted)
                changed = True
        buffers = parts[5:]
        if buffers:
            buffers = [_as_bytes(buffer) for buffer in buffers]
            for index, buffer in enumerate(buffers):
                if matcher.finds(buffer):
                    redacted_buffer = matcher.redact_bytes(buffer)
                    if redacted_buffer is not buffer:
                        buffers[index] = redacted_buffer
                        changed = True
        if not changed:
            return msg_list
        # Buffers are not signed.
        return [*msg_list[: delim + 1], session.sign(signed), *signed, *buffers]


_MSG_TYPE = re.compile(rb'"msg_type"\s*:\s*"([A-Za-z_]*)"')


def _msg_type(session: Any, header: bytes, json_packed: bool) -> str:
    """A message's type, read from its packed header without decoding it where that is sure:
    a JSON header with one plain ``msg_type`` key and no escape. (Decoding a header takes
    about 40% of the time a 16 KB content takes to screen.)"""
    if json_packed and b"\\" not in header:
        found = _MSG_TYPE.findall(header)
        if len(found) == 1:
            return found[0].decode("ascii")
    msg_type = session.unpack(header).get("msg_type", "")
    return msg_type if isinstance(msg_type, str) else ""


def _delimiter_index(msg_list: list[Any]) -> int:
    for index, part in enumerate(msg_list):
        if _as_bytes(part) == DELIM:
            return index
    raise ValueError("a kernel message without its delimiter")


def _as_bytes(part: Any) -> bytes:
    """A message part as bytes (ZMQ may hand out frames or memoryviews)."""
    if isinstance(part, bytes):
        return part
    return bytes(getattr(part, "bytes", part))


def redacting_connection_class(base: type) -> type | None:
    """A subclass of ``base`` that redacts, or None when ``base`` is not a ZMQ connection
    (a gateway's, say) whose outgoing path this module knows."""
    if not issubclass(base, ZMQChannelsWebsocketConnection):
        return None
    if issubclass(base, RedactingConnectionMixin):
        return base
    return type(f"Redacting{base.__name__}", (RedactingConnectionMixin, base), {})
