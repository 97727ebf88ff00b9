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

    @property
    def redactor(self) -> Redactor | None:
        """The server's redactor; None when redaction is off."""
        return self.websocket_handler.settings.get(SETTINGS_KEY)  # type: ignore[attr-defined]

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Redact an output message, then pass it on as jupyter_server would. While the
        matcher of the kernel's new secrets compiles (in a thread), this message and the
        ones after it wait, in order."""
        redactor = self.redactor
        if redactor is None:
            super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
            return
        if self._backlog is None:
            matcher = redactor.ready(self.kernel_id)  # type: ignore[attr-defined]
            if matcher is not None:
                self._pass_on(matcher, stream, outgoing_msg)
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
                redactor = self.redactor
                if redactor is None:
                    super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]
                    continue
                kernel_id = self.kernel_id  # type: ignore[attr-defined]
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
        header = session.unpack(_as_bytes(parts[1]))
        if not Redactor.wants(header.get("msg_type", "")):
            return msg_list
        packed = _as_bytes(parts[4])
        if session.packer in _JSON_PACKERS and not matcher.may_hold(packed):
            return msg_list
        content = session.unpack(packed)
        redacted = matcher.redact_tree(content)
        if redacted is content:
            return msg_list
        new_parts = [_as_bytes(part) for part in parts[1:4]] + [session.pack(redacted)]
        signature = session.sign(new_parts)
        return [*msg_list[: delim + 1], signature, *new_parts, *parts[5:]]


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
