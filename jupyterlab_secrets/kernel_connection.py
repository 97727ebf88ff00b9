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
import json
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from jupyter_client.session import DELIM
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from .redaction import Redactor

SETTINGS_KEY = "jupyterlab_secrets_redactor"
"""Where the `Redactor` sits in the tornado settings, for the connections to find it."""

V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"

_RUNS_CODE = frozenset({"execute_request", "comm_msg", "comm_open"})
"""Incoming requests that may run code, and so print a secret the kernel just received."""

_JSON_PACKERS = frozenset({"json", "orjson"})


class RedactingConnectionMixin:
    """Redacts the outgoing messages of a `ZMQChannelsWebsocketConnection` subclass."""

    _backlog: list[tuple[Any, bool]] | None = None
    _drainer: asyncio.Future[None] | None = None

    @property
    def redactor(self) -> Redactor | None:
        """The server's redactor; None when redaction is off."""
        return self.websocket_handler.settings.get(SETTINGS_KEY)  # type: ignore[attr-defined]

    # -- to the client ---------------------------------------------------------------------

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        """Redact an output message, then pass it on as jupyter_server would."""
        redactor = self.redactor
        if redactor is not None:
            try:
                outgoing_msg = self._redacted(redactor, outgoing_msg)
            except Exception:
                # A message that cannot be checked is not sent: it might hold a secret.
                self.log.error(  # type: ignore[attr-defined]
                    "jupyterlab_secrets dropped a kernel message it could not check for secrets",
                    exc_info=True,
                )
                return
        super().handle_outgoing_message(stream, outgoing_msg)  # type: ignore[misc]

    def _redacted(self, redactor: Redactor, msg_list: list[Any]) -> list[Any]:
        """The message parts with the kernel's secrets redacted; the same list if none."""
        matcher = redactor.matcher(self.kernel_id)  # type: ignore[attr-defined]
        if not matcher:
            return msg_list
        session = self.session  # type: ignore[attr-defined]
        delim = _delimiter_index(msg_list)
        # After the delimiter: signature, header, parent header, metadata, content, buffers.
        parts = msg_list[delim + 1 :]
        if len(parts) < 5:
            return msg_list
        header = session.unpack(_as_bytes(parts[1]))
        if not redactor.wants(header.get("msg_type", "")):
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

    # -- from the client -------------------------------------------------------------------

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        """Pass a message on to the kernel; one that may run code waits until the redactor
        knows the current secrets, and the messages after it wait their turn."""
        redactor = self.redactor
        refresh = redactor is not None and redactor.refresh is not None
        refresh = refresh and self._runs_code(incoming_msg)
        if self._backlog is None and not refresh:
            super().handle_incoming_message(incoming_msg)  # type: ignore[misc]
            return
        if self._backlog is None:
            self._backlog = []
            # Held, so that the event loop's weak reference is not the only one.
            self._drainer = asyncio.ensure_future(self._drain())
        self._backlog.append((incoming_msg, refresh))

    async def _drain(self) -> None:
        """Send the waiting messages in order, refreshing the secrets where asked."""
        backlog = self._backlog
        assert backlog is not None
        try:
            while backlog:
                incoming_msg, refresh = backlog.pop(0)
                redactor = self.redactor
                if refresh and redactor is not None and redactor.refresh is not None:
                    try:
                        await asyncio.to_thread(redactor.prepare, self.kernel_id)  # type: ignore[attr-defined]
                    except Exception:
                        self.log.warning(  # type: ignore[attr-defined]
                            "jupyterlab_secrets could not refresh the secrets to redact",
                            exc_info=True,
                        )
                super().handle_incoming_message(incoming_msg)  # type: ignore[misc]
        finally:
            self._backlog = None

    def _runs_code(self, incoming_msg: Any) -> bool:
        """Whether a client's message asks the kernel to run code."""
        try:
            if self.subprotocol == V1_PROTOCOL:  # type: ignore[attr-defined]
                _, msg_list = deserialize_msg_from_ws_v1(incoming_msg)
                header = self.session.unpack(msg_list[0])  # type: ignore[attr-defined]
            elif isinstance(incoming_msg, bytes):
                header = deserialize_binary_message(incoming_msg)["header"]
            else:
                header = json.loads(incoming_msg)["header"]
            return header.get("msg_type") in _RUNS_CODE
        except Exception:
            # jupyter_server itself reports a malformed message; refreshing costs little.
            return True


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


class CachedEnvironment:
    """The project's environment for every kernel of this server, kept until it changes.

    ``marker()`` answers a string that changes whenever the environment may change (cheap:
    no value is read); ``read()`` answers the environment (it decrypts every value). Calling
    the object never reads anything: it hands out the mapping of the last `refresh`, the same
    object until the environment changes, so the redactor compiles once per change.
    """

    def __init__(self, read: Callable[[], Mapping[str, str]], marker: Callable[[], str]) -> None:
        self._read = read
        self._read_marker = marker
        self._lock = threading.Lock()
        self._marker: str | None = None
        self._generation = 0
        self._values: Mapping[str, str] = MappingProxyType({})

    def __call__(self, kernel_id: str) -> Mapping[str, str]:
        """The secrets of any kernel of this server."""
        return self._values

    def refresh(self) -> None:
        """Read the environment again if its marker changed, or after `invalidate`
        (blocking: run it in a thread)."""
        with self._lock:
            generation = self._generation
            # The marker is read first: a change made while the values are read moves it
            # again, so the next refresh reads that change.
            marker = self._read_marker()
            if marker == self._marker:
                return
            values = self._read()
            if values != self._values:
                self._values = MappingProxyType(dict(values))
            # An invalidation during the read may not be in what was read: read again next time.
            self._marker = marker if generation == self._generation else None

    def invalidate(self) -> None:
        """Say that the environment changed: the next `refresh` reads it (any thread)."""
        self._generation += 1
        self._marker = None
