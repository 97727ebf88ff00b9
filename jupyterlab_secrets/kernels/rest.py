"""The kernel routes' REST layer: a kernel's status (names only, never values) as JSON.

As `jupyterlab_secrets.rest` does for the secrets, `KernelsApi` turns a kernel route's call
into a `Reply`; the handlers (``kernels/handlers.py``) only pass the kernel ID in and send the
reply back.
"""

from __future__ import annotations

from typing import Any

from ..rest import ApiError, Reply, encode_json
from .injector import KernelSecrets, KernelStatus


def kernel_status_json(status: KernelStatus) -> dict[str, Any]:
    """``{"kernel_id", "language", "state", "names", "skipped": [{"name", "reason"}],
    "message"}``: names only, never a value."""
    return {
        "kernel_id": status.kernel_id,
        "language": status.language,
        "state": status.state,
        "names": list(status.names),
        "skipped": [{"name": s.name, "reason": s.reason} for s in status.skipped],
        "message": status.message,
    }


class KernelsApi:
    """The kernel routes over this server's `KernelSecrets`, or the reason there is none (503).

    A status holds names, never values; it is never cached, since it changes as changes reach
    the kernel.
    """

    def __init__(self, kernels: KernelSecrets | None, unavailable: str | None = None) -> None:
        self.kernels = kernels
        self.unavailable = unavailable

    def _injector(self, known: bool) -> KernelSecrets:
        if self.kernels is None:
            raise ApiError(503, self.unavailable or "This server's kernels do not get secrets.")
        if not known:
            raise ApiError(404, "No such kernel.")
        return self.kernels

    def _reply(self, kernel_id: str, status: KernelStatus | None) -> Reply:
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
        return Reply(200, encode_json(kernel_status_json(status)), sensitive=True)

    async def status(self, kernel_id: str, known: bool) -> Reply:
        """``GET kernels/{kernel_id}``; ``known``: whether the server runs that kernel."""
        return self._reply(kernel_id, self._injector(known).status(kernel_id))

    async def reload(self, kernel_id: str, known: bool) -> Reply:
        """``POST kernels/{kernel_id}/reload``: set the current secrets in the kernel now."""
        return self._reply(kernel_id, await self._injector(known).reload(kernel_id))
