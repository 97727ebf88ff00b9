"""Thin tornado handlers under ``{base_url}jupyterlab-secrets/api/``.

Each verb authenticates, authorizes its action on the resource ``secrets`` (``read`` to see,
``write`` to change, ``execute`` for anything that answers or uses a value), and hands the
request's parts to `SecretsApi` (``rest.py``), which calls the service and answers a `Reply`.
"""

from __future__ import annotations

import json
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .identity import UserNames
from .rest import MAX_BODY_BYTES, ApiError, Reply, SecretsApi
from .stores.base import SECRET_ID_PATTERN

API_PREFIX = "jupyterlab-secrets/api"

READ = "read"
"""Listing, metadata, versions, the audit log."""
WRITE = "write"
"""Create, edit, delete, share, add."""
EXECUTE = "execute"
"""Anything that answers or uses a value: the action that also lets a user run code."""


@web.stream_request_body
class SecretsHandler(APIHandler):
    """Base of the secrets handlers: the API, the body, the reply, and the error body.

    Bodies are streamed so that one larger than `MAX_BODY_BYTES` is refused from its
    ``Content-Length`` before it is read.
    """

    auth_resource = "secrets"

    def initialize(self, api: SecretsApi, user_names: UserNames | None = None) -> None:
        """Receive the REST API of this server, and how it names its users."""
        self.api = api
        self.user_names = user_names
        self._chunks: list[bytes] = []
        self._received = 0

    async def prepare(self) -> None:  # type: ignore[override]
        """Authenticate (as every API handler), then refuse an oversized body unread."""
        await super().prepare()
        length = self.request.headers.get("Content-Length")
        if length is not None and not length.isdigit():
            raise ApiError(400, "The request's Content-Length is not a number.")
        if length is not None and int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body must be at most {MAX_BODY_BYTES:,} bytes.")
        # A body without a length (chunked) stops at the same limit while it is read.
        self.request.connection.set_max_body_size(MAX_BODY_BYTES)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        """Collect the body as it arrives."""
        self._received += len(chunk)
        if self._received <= MAX_BODY_BYTES:
            self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        """The request body, as received."""
        return b"".join(self._chunks)

    @property
    def user(self) -> str:
        """The name of the authenticated user: the server's account for jupyter_server's
        anonymous users (see `UserNames`)."""
        if self.user_names is None:
            return self.current_user.username
        return self.user_names.name(self.current_user)

    def not_modified(self, tag: str) -> bool:
        """Set ``tag`` as this answer's ETag, and tell whether the request's
        ``If-None-Match`` holds it (tornado's matching: weak or strong, in a list, or ``*``)."""
        self.set_header("Etag", f'"{tag}"')
        return self.check_etag_header()

    def compute_etag(self) -> str | None:
        """No automatic ETag: tornado's would hash the body, and a body may hold values.

        The listing and the environment set their own, from metadata only (`not_modified`).
        """
        return None

    def send(self, reply: Reply) -> None:
        """Send a `Reply`; one holding values is marked never to be cached."""
        self.set_status(reply.status)
        if reply.tag is not None:
            self.set_header("ETag", f'"{reply.tag}"')
        if reply.sensitive:
            self.set_header("Cache-Control", "no-store")
            self.set_header("Pragma", "no-cache")
        self.finish(reply.body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message", "field"?}``: never a traceback, never a value."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, ApiError):
            body = error.body
        elif isinstance(error, web.HTTPError) and error.log_message and not error.args:
            body = {"message": error.log_message}
        else:
            body = {"message": responses.get(status_code, "Error")}
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class SecretsCollectionHandler(SecretsHandler):
    """``GET`` lists secrets (with an ETag; 304 to a matching ``If-None-Match``); ``POST``
    creates one."""

    @web.authenticated
    @authorized(READ)
    async def get(self) -> None:
        self.send(await self.api.listing(self.user, self.not_modified))

    @web.authenticated
    @authorized(WRITE)
    async def post(self) -> None:
        self.send(await self.api.create(self.user, self.body))


class SecretHandler(SecretsHandler):
    """``GET``, ``PATCH`` and ``DELETE`` one secret."""

    @web.authenticated
    @authorized(READ)
    async def get(self, secret_id: str) -> None:
        self.send(await self.api.get(self.user, secret_id))

    @web.authenticated
    @authorized(WRITE)
    async def patch(self, secret_id: str) -> None:
        self.send(await self.api.patch(self.user, secret_id, self.body))

    @web.authenticated
    @authorized(WRITE)
    async def delete(self, secret_id: str) -> None:
        self.send(await self.api.delete(self.user, secret_id))


class RevealHandler(SecretsHandler):
    """``POST`` answers a secret's value."""

    @web.authenticated
    @authorized(EXECUTE)
    async def post(self, secret_id: str) -> None:
        self.send(await self.api.reveal(self.user, secret_id))


class CopyHandler(SecretsHandler):
    """``POST`` copies a secret into this project (it uses the value)."""

    @web.authenticated
    @authorized(EXECUTE)
    async def post(self, secret_id: str) -> None:
        self.send(await self.api.copy(self.user, secret_id, self.body))


class AccessHandler(SecretsHandler):
    """``PUT`` sets the communities a secret is shared with."""

    @web.authenticated
    @authorized(WRITE)
    async def put(self, secret_id: str) -> None:
        self.send(await self.api.set_access(self.user, secret_id, self.body))


class AttachmentHandler(SecretsHandler):
    """``PUT`` adds a shared secret to this project; ``DELETE`` removes it."""

    @web.authenticated
    @authorized(WRITE)
    async def put(self, secret_id: str) -> None:
        self.send(await self.api.set_attached(self.user, secret_id, True))

    @web.authenticated
    @authorized(WRITE)
    async def delete(self, secret_id: str) -> None:
        self.send(await self.api.set_attached(self.user, secret_id, False))


class VersionsHandler(SecretsHandler):
    """``GET`` lists a secret's kept versions, never a value."""

    @web.authenticated
    @authorized(READ)
    async def get(self, secret_id: str) -> None:
        self.send(await self.api.versions(self.user, secret_id))


class RestoreHandler(SecretsHandler):
    """``POST`` makes a new version holding a kept version's value."""

    @web.authenticated
    @authorized(EXECUTE)
    async def post(self, secret_id: str, version: str) -> None:
        self.send(await self.api.restore(self.user, secret_id, version, self.body))


class CommunitiesHandler(SecretsHandler):
    """``GET`` lists the communities of this project."""

    @web.authenticated
    @authorized(READ)
    async def get(self) -> None:
        self.send(await self.api.communities(self.user))


class EnvironmentHandler(SecretsHandler):
    """``GET`` answers the variables injected into this project's kernels.

    A client that asks again sends the last tag in ``If-None-Match``: while the tag matches,
    the answer is 304, and nothing is decrypted. (This server's own kernels get their
    environment from the service directly, through `kernels.injector`.)
    """

    @web.authenticated
    @authorized(EXECUTE)
    async def get(self) -> None:
        self.send(await self.api.environment(self.user, self.not_modified))


class AuditHandler(SecretsHandler):
    """``GET`` answers the audit log of this project's secrets, newest first: never a value."""

    @web.authenticated
    @authorized(READ)
    async def get(self) -> None:
        arguments = {
            name: [self.decode_argument(v, name) for v in values]
            for name, values in self.request.query_arguments.items()
        }
        self.send(await self.api.audit(self.user, arguments))


class NoSuchSecretHandler(SecretsHandler):
    """Any path under ``secrets/`` that is not a route of a well-formed ID: 404, as for a
    secret that does not exist, with nothing passed on to the service or the store."""

    def _refuse(self, *args: Any) -> None:
        raise ApiError(404, "No such secret.")

    get = web.authenticated(_refuse)
    post = web.authenticated(_refuse)
    put = web.authenticated(_refuse)
    patch = web.authenticated(_refuse)
    delete = web.authenticated(_refuse)


def route_table(
    api: SecretsApi, user_names: UserNames | None = None
) -> list[tuple[str, type[SecretsHandler], dict[str, Any]]]:
    """The routes, relative to the server's base URL."""
    kwargs = {"api": api, "user_names": user_names}
    secret = rf"{API_PREFIX}/secrets/(?P<secret_id>{SECRET_ID_PATTERN})"
    return [
        (rf"{API_PREFIX}/secrets/?", SecretsCollectionHandler, kwargs),
        (rf"{secret}/?", SecretHandler, kwargs),
        (rf"{secret}/reveal/?", RevealHandler, kwargs),
        (rf"{secret}/copy/?", CopyHandler, kwargs),
        (rf"{secret}/access/?", AccessHandler, kwargs),
        (rf"{secret}/attachment/?", AttachmentHandler, kwargs),
        (rf"{secret}/versions/?", VersionsHandler, kwargs),
        (rf"{secret}/versions/(?P<version>[0-9]{{1,10}})/restore/?", RestoreHandler, kwargs),
        (rf"{API_PREFIX}/secrets/.*", NoSuchSecretHandler, kwargs),
        (rf"{API_PREFIX}/communities/?", CommunitiesHandler, kwargs),
        (rf"{API_PREFIX}/environment/?", EnvironmentHandler, kwargs),
        (rf"{API_PREFIX}/audit/?", AuditHandler, kwargs),
    ]
