"""Thin REST handlers over `SecretsService`, under ``{base_url}jupyterlab-secrets/api/``."""

from __future__ import annotations

import asyncio
import json
import re
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .service import SecretsError, SecretsService, Tagged

API_PREFIX = "jupyterlab-secrets/api"
_ENTITY_TAGS = re.compile(r'\*|(?:W/)?"([^"]*)"')


class _ApiError(web.HTTPError):
    """Carries a `SecretsError` through tornado to `SecretsHandler.write_error`.

    It has no log message, so tornado logs nothing but the access line.
    """

    def __init__(self, error: SecretsError) -> None:
        super().__init__(error.status)
        self.error = error


class SecretsHandler(APIHandler):
    """Base of the secrets handlers: dependency injection, dispatch, and the error body."""

    auth_resource = "secrets"

    def initialize(self, service: SecretsService | None, unavailable: str | None) -> None:
        """Receive the service, or the reason the extension cannot serve."""
        self.service = service
        self.unavailable = unavailable

    async def call(self, operation: str, *args: Any) -> Any:
        """Run a service operation off the event loop, as the current user."""
        try:
            if self.service is None:
                raise SecretsError(503, self.unavailable or "Secrets are unavailable.")
            method = getattr(self.service, operation)
            return await asyncio.to_thread(method, self.current_user.username, *args)
        except SecretsError as error:
            raise _ApiError(error) from None

    def compute_etag(self) -> str | None:
        """No automatic ETag: tornado's would hash the body, and a body may hold values.

        The collection and the environment set their own, from metadata only.
        """
        return None

    def known_tags(self) -> frozenset[str]:
        """The entity tags of ``If-None-Match``, without quotes or weak markers."""
        header = self.request.headers.get("If-None-Match", "")
        return frozenset(
            match.group(1) if match.group(1) is not None else "*"
            for match in _ENTITY_TAGS.finditer(header)
        )

    def reply(self, body: Any, status: int = 200, *, sensitive: bool = False) -> None:
        """Send a JSON body; ``sensitive`` bodies hold values and must not be cached."""
        self.set_status(status)
        self._no_store(sensitive)
        self.finish(json.dumps(body))

    def reply_tagged(self, tagged: Tagged, *, sensitive: bool = False) -> None:
        """Send a body with its ETag, or 304 with no body when the client holds that tag."""
        self.set_header("ETag", f'"{tagged.tag}"')
        self._no_store(sensitive)
        if tagged.body is None:
            self.set_status(304)
            self.finish()
        else:
            self.finish(tagged.body)

    def _no_store(self, sensitive: bool) -> None:
        if sensitive:
            self.set_header("Cache-Control", "no-store")
            self.set_header("Pragma", "no-cache")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message", "field"?}``: never a traceback, never a value."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, _ApiError):
            body = error.error.to_json()
        elif isinstance(error, web.HTTPError) and error.log_message and not error.args:
            body = {"message": error.log_message}
        else:
            body = {"message": responses.get(status_code, "Error")}
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class SecretsCollectionHandler(SecretsHandler):
    """``GET`` lists secrets (with an ETag, answering 304 to a matching ``If-None-Match``);
    ``POST`` creates one."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply_tagged(await self.call("listing", self.known_tags()))

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.call("create", self.request.body), 201)


class SecretHandler(SecretsHandler):
    """``GET``, ``PATCH`` and ``DELETE`` one secret."""

    @web.authenticated
    @authorized
    async def get(self, secret_id: str) -> None:
        self.reply(await self.call("get", secret_id))

    @web.authenticated
    @authorized
    async def patch(self, secret_id: str) -> None:
        self.reply(await self.call("patch", secret_id, self.request.body))

    @web.authenticated
    @authorized
    async def delete(self, secret_id: str) -> None:
        await self.call("delete", secret_id)
        self.set_status(204)
        self.finish()


class RevealHandler(SecretsHandler):
    """``POST`` answers a secret's value."""

    @web.authenticated
    @authorized
    async def post(self, secret_id: str) -> None:
        self.reply(await self.call("reveal", secret_id), sensitive=True)


class CopyHandler(SecretsHandler):
    """``POST`` copies a secret into this project."""

    @web.authenticated
    @authorized
    async def post(self, secret_id: str) -> None:
        self.reply(await self.call("copy", secret_id, self.request.body), 201)


class AccessHandler(SecretsHandler):
    """``PUT`` sets the communities a secret is shared with."""

    @web.authenticated
    @authorized
    async def put(self, secret_id: str) -> None:
        self.reply(await self.call("set_access", secret_id, self.request.body))


class AttachmentHandler(SecretsHandler):
    """``PUT`` adds a shared secret to this project; ``DELETE`` removes it."""

    @web.authenticated
    @authorized
    async def put(self, secret_id: str) -> None:
        self.reply(await self.call("set_attached", secret_id, True))

    @web.authenticated
    @authorized
    async def delete(self, secret_id: str) -> None:
        self.reply(await self.call("set_attached", secret_id, False))


class CommunitiesHandler(SecretsHandler):
    """``GET`` lists the communities of this project."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.call("list_communities"))


class EnvironmentHandler(SecretsHandler):
    """``GET`` answers the variables injected into this project's kernels.

    Kernels of other servers learn of changes by polling with ``If-None-Match``: while the
    tag matches, the answer is 304, and nothing is decrypted.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        tagged = await self.call("environment_tagged", self.known_tags())
        self.reply_tagged(tagged, sensitive=True)


def route_table(
    service: SecretsService | None, unavailable: str | None
) -> list[tuple[str, type[SecretsHandler], dict[str, Any]]]:
    """The routes, relative to the server's base URL."""
    kwargs = {"service": service, "unavailable": unavailable}
    secret = rf"{API_PREFIX}/secrets/(?P<secret_id>[^/]+)"
    return [
        (rf"{API_PREFIX}/secrets/?", SecretsCollectionHandler, kwargs),
        (rf"{secret}/?", SecretHandler, kwargs),
        (rf"{secret}/reveal/?", RevealHandler, kwargs),
        (rf"{secret}/copy/?", CopyHandler, kwargs),
        (rf"{secret}/access/?", AccessHandler, kwargs),
        (rf"{secret}/attachment/?", AttachmentHandler, kwargs),
        (rf"{API_PREFIX}/communities/?", CommunitiesHandler, kwargs),
        (rf"{API_PREFIX}/environment/?", EnvironmentHandler, kwargs),
    ]
