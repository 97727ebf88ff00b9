"""The kernel status routes: what a kernel holds (names only), and reloading it.

Thin, as the secrets handlers: each verb authenticates, authorizes its action on the resource
``secrets``, and hands the kernel ID to `KernelsApi` (``kernels/rest.py``), which answers a
`Reply`.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..handlers import API_PREFIX, EXECUTE, READ, SecretsHandler
from .rest import KernelsApi

KERNELS_PREFIX = f"{API_PREFIX}/kernels"


class KernelStatusHandler(SecretsHandler):
    """Base of the kernel routes: the secrets handlers' replies and ``{"message"}`` errors."""

    def initialize(self, kernels: KernelsApi) -> None:  # type: ignore[override]
        """Receive the kernel API of this server."""
        # No `SecretsApi` here: these routes answer from the kernels' API alone.
        super().initialize(api=None)  # type: ignore[arg-type]
        self.kernels = kernels

    def known(self, kernel_id: str) -> bool:
        """Whether this server runs that kernel."""
        return kernel_id in self.kernel_manager


class KernelHandler(KernelStatusHandler):
    """``GET`` what a kernel holds: names and skipped names, never values."""

    @web.authenticated
    @authorized(READ)
    async def get(self, kernel_id: str) -> None:
        self.send(await self.kernels.status(kernel_id, self.known(kernel_id)))


class KernelReloadHandler(KernelStatusHandler):
    """``POST`` sets the project's current secrets in the kernel now (it uses the values)."""

    @web.authenticated
    @authorized(EXECUTE)
    async def post(self, kernel_id: str) -> None:
        self.send(await self.kernels.reload(kernel_id, self.known(kernel_id)))


def kernel_routes(
    kernels: KernelsApi,
) -> list[tuple[str, type[KernelStatusHandler], dict[str, Any]]]:
    """The kernel routes, relative to the server's base URL."""
    kwargs = {"kernels": kernels}
    kernel = rf"{KERNELS_PREFIX}/(?P<kernel_id>[A-Za-z0-9_-]{{1,128}})"
    return [
        (rf"{kernel}/?", KernelHandler, kwargs),
        (rf"{kernel}/reload/?", KernelReloadHandler, kwargs),
    ]
