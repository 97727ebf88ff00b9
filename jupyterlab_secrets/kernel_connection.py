"""The kernel websocket connection that redacts secret values on their way to clients.

jupyter_server hands every kernel websocket to an instance of its
``ServerApp.kernel_websocket_connection_class``. The extension puts a subclass of the
configured class there that redacts, before anything is sent, the output messages of both
websocket protocols (the JSON one and ``v1.kernel.websocket.jupyter.org``), including those
buffered while no client was connected and replayed later.

Redaction works on the message parts as the kernel packed them: a message whose packed
content cannot hold a secret goes on untouched (not even decoded); one that may is decoded,
redacted, packed again and signed again with the kernel's session key (which the server
holds), so that the rest of jupyter_server handles it as any other message.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from jupyter_client.session import DELIM
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from .redaction import Matcher, Redactor

SETTINGS_KEY = "jupyterlab_secrets_redactor"
"""Where the `Redactor` sits in the tornado settings, for the connections to find it."""

_JSON_PACKERS = frozenset({"json", "orjson"})


class RedactingConnectionMixin:
    """Redacts the outgoing messages of a `ZMQChannelsWebsocketConnection` subclass."""

    _backlog: list[tuple[Any, list[Any]]] | None = None
    _drainer: asyncio.Future[None] | None = None

    _target: tuple[Redactor | None, str] | None = None

    @property
    def redactor(self) -> Redactor | None:
        """The server's redactor; None when redaction is off."""
        return self._redaction_target()[0]

    def _redaction_target(self) -> tuple[Redactor | None, str]:
        """The server's redactor and this connection's kernel, looked up once: they never
        change, and each lookup goes through traitlets, on every message."""
        target = self._target
        if target is None:
            settings = self.websocket_handler.settings  # type: ignore[attr-defined]
            target = self._target = (settings.get(SETTINGS_KEY), self.kernel_id)  # type: ignore[attr-defined]
        return target

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Redact an output message, then pass it on as jupyter_server would. While the
        matcher of the kernel's new secrets compiles (in a thread), the next output message
        and every message after it wait, in order; messages that show no output (a status,
        the kernel's info) go on before that, so a new kernel is ready without waiting."""
        redactor, kernel_id = self._redaction_target()
        if redactor is None:
            super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
            return
        if self._backlog is None:
            matcher = redactor.ready(kernel_id)
            if matcher is not None:
                self._pass_on(matcher, stream, outgoing_msg)
                return
            if not self._may_show_output(outgoing_msg):
                super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
                return
            self._backlog = []
            # Held, so that the event loop's weak reference is not the only one.
            self._drainer = asyncio.ensure_future(self._drain())
        self._backlog.append((stream, outgoing_msg))

    async def _drain(self) -> None:
        """Pass on the waiting messages in order, compiling matchers off the event loop."""
        backlog = self._backlog
        assert backlog is not None
        try:
            while backlog:
                stream, outgoing_msg = backlog.pop(0)
                redactor, kernel_id = self._redaction_target()
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

    def _may_show_output(self, msg_list: list[Any]) -> bool:
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
        packed = _as_bytes(parts[4])
        if json_packed and not matcher.may_hold(packed):
            return msg_list
        content = session.unpack(packed)
        redacted = matcher.redact_tree(content)
        if redacted is content:
            return msg_list
        new_parts = [_as_bytes(part) for part in parts[1:4]] + [session.pack(redacted)]
        signature = session.sign(new_parts)
        return [*msg_list[: delim + 1], signature, *new_parts, *parts[5:]]


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
