"""The jupyter_server extension: its settings (``config.py``), its store and service, its
routes (``handlers.py`` over ``rest.py``), and the secrets of its kernels (``kernels/``)."""

from __future__ import annotations

import threading
import time
from typing import Any

from jupyter_server.extension.application import ExtensionApp

from .config import SecretsSettings, open_secrets, validate_communities, warn_audit_key_held
from .credentials import take_credentials
from .errors import SecretsError, UnavailableError
from .handlers import route_table
from .identity import UserNames
from .kernel_connection import INJECTOR_KEY, SETTINGS_KEY, redacting_connection_class
from .kernels import KernelsApi, KernelSecrets, install, kernel_routes
from .redaction import Redactor
from .rest import SecretsApi
from .service import Change, SecretsService
from .stores.base import SecretStore

__all__ = ["SecretsExtension", "UnavailableError", "validate_communities"]

KERNELS_USER = "jupyter-server"
"""The user named when the server reads the environment for its kernels."""


class SecretsExtension(SecretsSettings, ExtensionApp):
    """Encrypted project secrets, served under ``{base_url}jupyterlab-secrets/api/``.

    Its settings are those of `SecretsSettings` (``SecretsExtension.*``).
    """

    name = "jupyterlab_secrets"
    description = "Store notebook-project secrets encrypted and inject them into kernels."
    removes_token_file = True

    def initialize_settings(self) -> None:
        """Open the store and the service; on a key or database problem, serve 503 with the
        cause."""
        take_credentials()  # again, in case the extension was loaded without discovery
        self.store: SecretStore | None = None
        self.service: SecretsService | None = None
        self.unavailable: str | None = None
        self.kernel_secrets: KernelSecrets | None = None
        self.redactor: Redactor | None = None
        warn_audit_key_held(self)
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
        self.kernel_secrets = self.install_kernel_secrets(self.service)
        if self.kernel_secrets is not None:
            threading.Thread(
                target=self._warm, args=(self.service,), name="secrets-warm", daemon=True
            ).start()
            self.install_connection(self.kernel_secrets)
        if self.redactor is None:
            # Off, or impossible here: the panel must not promise hidden values.
            self.service.outputs_not_redacted()

    def _warm(self, service: SecretsService) -> None:
        """Read the environment's values ahead of the first kernel, while the server starts,
        where the store keeps them in memory (OpenBao); a kernel that asks meanwhile waits
        for this read instead of repeating it."""
        started = time.monotonic()
        try:
            kept = service.warm()
        except SecretsError as error:  # the first kernel reads them itself, and says why not
            self.log.warning("jupyterlab_secrets could not read the values ahead: %s", error)
            return
        except Exception as error:  # its text is not ours to log: it could hold anything
            self.log.warning(
                "jupyterlab_secrets could not read the values ahead: %s", type(error).__name__
            )
            return
        if kept is not None:
            self.log.info(
                "jupyterlab_secrets read %d values ahead of the first kernel in %.1f s",
                kept,
                time.monotonic() - started,
            )

    def install_kernel_secrets(self, service: SecretsService) -> KernelSecrets | None:
        """Give every kernel of this server the project's environment (see `kernels`)."""
        secrets = install(
            self.serverapp.kernel_manager,
            environment=lambda: service.environment(KERNELS_USER),
            marker=service.change_marker,
            poll_interval=self.poll_interval,
            log=self.log,
        )
        if secrets is not None:
            # Changes made through this server reach its kernels at once, not at the next poll.
            service.listeners.append(self._kernels_listener)
        return secrets

    def _kernels_listener(self, change: Change) -> None:
        """Every write may change the environment: the injector checks the marker now."""
        if self.kernel_secrets is not None:
            self.kernel_secrets.notify_changed()

    def install_connection(self, kernel_secrets: KernelSecrets) -> None:
        """Make every kernel websocket of this server redact what that kernel holds (when
        `redact_outputs` is on), never show the server's own injection requests, and hold
        clients' messages while a kernel's secrets are being set after its start."""
        base = self.serverapp.kernel_websocket_connection_class
        connection_class = redacting_connection_class(base)
        if connection_class is None:
            if not self.redact_outputs:
                return
            self.log.warning(
                "jupyterlab_secrets cannot redact outputs sent through %s.%s "
                "(ServerApp.kernel_websocket_connection_class): secret values printed by "
                "kernels reach clients as they are",
                base.__module__,
                base.__qualname__,
            )
            return
        if self.redact_outputs:
            self.redactor = Redactor(kernel_secrets.secrets_for, self.redact_min_length)
        # The extension's settings are copied into the server's after this method.
        self.serverapp.kernel_websocket_connection_class = connection_class
        self.settings["kernel_websocket_connection_class"] = connection_class
        self.settings[SETTINGS_KEY] = self.redactor
        self.settings[INJECTOR_KEY] = kernel_secrets

    def initialize_handlers(self) -> None:
        """Register the REST routes (jupyter_server prefixes them with the base URL)."""
        user_names = UserNames(self.serverapp.identity_provider)
        self.handlers.extend(route_table(SecretsApi(self.service, self.unavailable), user_names))
        self.handlers.extend(kernel_routes(KernelsApi(self.kernel_secrets, self.unavailable)))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start watching for changes once the server's event loop runs."""
        if self.kernel_secrets is not None:
            self.kernel_secrets.start()

    async def stop_extension(self) -> None:
        """Stop the kernel injector; close the store's connections."""
        if self.service is not None and self._kernels_listener in self.service.listeners:
            self.service.listeners.remove(self._kernels_listener)
        if self.kernel_secrets is not None:
            await self.kernel_secrets.stop()
        if self.store is not None:
            self.store.close()
