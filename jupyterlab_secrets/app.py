"""The jupyter_server extension: its settings (``config.py``), its store and service, its
routes (``handlers.py`` over ``rest.py``)."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .config import SecretsSettings, open_secrets, validate_communities
from .errors import UnavailableError
from .handlers import route_table
from .rest import SecretsApi
from .service import SecretsService
from .stores.base import SecretStore

__all__ = ["SecretsExtension", "UnavailableError", "validate_communities"]


class SecretsExtension(SecretsSettings, ExtensionApp):
    """Encrypted project secrets, served under ``{base_url}jupyterlab-secrets/api/``.

    Its settings are those of `SecretsSettings` (``SecretsExtension.*``).
    """

    name = "jupyterlab_secrets"
    description = "Store notebook-project secrets encrypted and inject them into kernels."

    def initialize_settings(self) -> None:
        """Open the store and the service; on a key or database problem, serve 503 with the
        cause."""
        self.store: SecretStore | None = None
        self.service: SecretsService | None = None
        self.unavailable: str | None = None
        try:
            opened = open_secrets(self)
        except UnavailableError as error:
            self.unavailable = error.message
            self.log.error("jupyterlab_secrets is unavailable: %s", self.unavailable)
            return
        self.store, self.service = opened.store, opened.service
        self.log.info(
            "jupyterlab_secrets serves project %r from %s",
            self.project,
            self.store_description(),
        )

    def initialize_handlers(self) -> None:
        """Register the REST routes (jupyter_server prefixes them with the base URL)."""
        self.handlers.extend(route_table(SecretsApi(self.service, self.unavailable)))

    async def stop_extension(self) -> None:
        """Close the store's connections."""
        if self.store is not None:
            self.store.close()
