"""The kernel status routes: what a kernel holds (names only), and reloading it."""

from __future__ import annotations

import json
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .injector import KernelSecrets, KernelStatus

KERNELS_PREFIX = "jupyterlab-secrets/api/kernels"


class KernelStatusHandler(APIHandler):
    """Base of the kernel routes: dependency injection and the ``{"message"}`` error body."""

    auth_resource = "secrets"

    def initialize(self, secrets: KernelSecrets | None, unavailable: str | None) -> None:
        """Receive the injector, or the reason the extension cannot serve."""
        self.secrets = secrets
        self.unavailable = unavailable

    def _injector(self) -> KernelSecrets:
        if self.secrets is None:
            message = self.unavailable or "This server's kernels do not get secrets."
            raise web.HTTPError(503, message)
        return self.secrets

    def _known(self, kernel_id: str) -> None:
        if kernel_id not in self.kernel_manager:
            raise web.HTTPError(404, "No such kernel.")

    def _reply(self, status: KernelStatus | None, kernel_id: str) -> None:
        if status is None:
            # A kernel of this server that the injector never saw start (it predates the
            # extension, or another kernel manager class runs it).
            status = KernelStatus(
                kernel_id,
                None,
                "error",
                [],
                [],
                "This kernel was not started through the secrets kernel manager; restart it.",
            )
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(status.to_json()))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error is ``{"message"}``: never a traceback."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, web.HTTPError) and error.log_message and not error.args:
            message = error.log_message
        else:
            message = responses.get(status_code, "Error")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"message": message}))


class KernelHandler(KernelStatusHandler):
    """``GET`` what a kernel holds: names and skipped names, never values."""

    @web.authenticated
    @authorized("read")
    async def get(self, kernel_id: str) -> None:
        self._known(kernel_id)
        self._reply(self._injector().status(kernel_id), kernel_id)


class KernelReloadHandler(KernelStatusHandler):
    """``POST`` sets the project's current secrets in the kernel now."""

    @web.authenticated
    @authorized("execute")
    async def post(self, kernel_id: str) -> None:
        self._known(kernel_id)
        self._reply(await self._injector().reload(kernel_id), kernel_id)


def kernel_routes(
    secrets: KernelSecrets | None, unavailable: str | None
) -> list[tuple[str, type[KernelStatusHandler], dict[str, Any]]]:
    """The kernel routes, relative to the server's base URL."""
    kwargs = {"secrets": secrets, "unavailable": unavailable}
    kernel = rf"{KERNELS_PREFIX}/(?P<kernel_id>[A-Za-z0-9_-]{{1,128}})"
    return [
        (rf"{kernel}/?", KernelHandler, kwargs),
        (rf"{kernel}/reload/?", KernelReloadHandler, kwargs),
    ]
