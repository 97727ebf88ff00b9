"""The jupyter_server extension: its settings (``config.py``), its store and service, its
routes (``handlers.py`` over ``rest.py``)."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .config import SecretsSettings, open_secrets, validate_communities
from .errors import UnavailableError
from .handlers import route_table
from .kernel_connection import SETTINGS_KEY, CachedEnvironment, redacting_connection_class
from .redaction import Redactor
from .rest import SecretsApi
from .service import SecretsService
from .stores.base import SecretStore

__all__ = ["SecretsExtension", "UnavailableError", "validate_communities"]

SERVER_USER = "jupyter-server"
"""The user named when the server itself reads the environment (to redact outputs)."""


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
        self.redactor: Redactor | None = None
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
        if self.redact_outputs:
            self.install_redaction(self.service)

    def install_redaction(self, service: SecretsService) -> None:
        """Make every kernel websocket of this server redact the kernel's secrets."""
        base = self.serverapp.kernel_websocket_connection_class
        connection_class = redacting_connection_class(base)
        if connection_class is None:
            self.log.warning(
                "jupyterlab_secrets cannot redact outputs sent through %s.%s "
                "(ServerApp.kernel_websocket_connection_class): secret values printed by "
                "kernels reach clients as they are",
                base.__module__,
                base.__qualname__,
            )
            return
        # Every kernel of this server gets the project's environment today. A source of each
        # kernel's own secrets plugs in here: Redactor(secrets_for, min_length).
        source = CachedEnvironment(
            read=lambda: service.environment(SERVER_USER), marker=service.change_marker
        )
        # A write through this service is read at the next check, whatever the marker says.
        service.listeners.append(lambda change: source.invalidate())
        self.redactor = Redactor(source, self.redact_min_length, refresh=source.refresh)
        try:
            source.refresh()
        except Exception:
            self.log.warning(
                "jupyterlab_secrets could not read the secrets to redact", exc_info=True
            )
        # The extension's settings are copied into the server's after this method.
        self.serverapp.kernel_websocket_connection_class = connection_class
        self.settings["kernel_websocket_connection_class"] = connection_class
        self.settings[SETTINGS_KEY] = self.redactor

    def initialize_handlers(self) -> None:
        """Register the REST routes (jupyter_server prefixes them with the base URL)."""
        self.handlers.extend(route_table(SecretsApi(self.service, self.unavailable)))

    async def stop_extension(self) -> None:
        """Close the store's connections."""
        if self.store is not None:
            self.store.close()
