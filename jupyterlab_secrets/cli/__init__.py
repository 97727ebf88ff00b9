"""``jupyter secrets``: commands that work on the server's secrets, with its config files.

A command is a module of this package holding a `SecretsCommand` (or, for one that needs no
store, a `JupyterApp`), and one line in `SUBCOMMANDS`.
"""

from __future__ import annotations

import sys
from typing import Any

from jupyter_core.application import JupyterApp, base_aliases
from traitlets import Instance
from traitlets.config import Application
from traitlets.config.loader import ConfigFileNotFound

from .. import __version__
from ..config import Opened, SecretsSettings, open_secrets
from ..credentials import take_credentials
from ..errors import SecretsError

CONFIG_FILES = ("jupyter_server_config", "jupyter_jupyterlab_secrets_config")
"""The config files the server reads its settings from (in Jupyter's config path)."""

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "rotate-key": (
        "jupyterlab_secrets.cli.rotate_key.RotateKeyApp",
        "Re-encrypt every stored secret under the first master key.",
    ),
    "run": (
        "jupyterlab_secrets.cli.run.RunApp",
        "Run a command with the project's secrets in its environment.",
    ),
    "list": (
        "jupyterlab_secrets.cli.manage.ListApp",
        "List the project's secrets: names, versions and dates, never values.",
    ),
    "get": ("jupyterlab_secrets.cli.manage.GetApp", "Print the value of one secret."),
    "set": (
        "jupyterlab_secrets.cli.manage.SetApp",
        "Create or update one secret from standard input.",
    ),
    "delete": ("jupyterlab_secrets.cli.manage.DeleteApp", "Delete one secret."),
    "import": (
        "jupyterlab_secrets.cli.import_env.ImportApp",
        "Create or update secrets from a .env file.",
    ),
    "scan": (
        "jupyterlab_secrets.cli.scan.ScanApp",
        "Find the project's secret values in files and notebooks; prints names, never values.",
    ),
    "audit": (
        "jupyterlab_secrets.cli.audit.AuditApp",
        "Print the audit log (never a value); --verify checks its chain.",
    ),
    "generate-key": (
        "jupyterlab_secrets.cli.generate_key.GenerateKeyApp",
        "Print a fresh master key (base64 of 32 random bytes).",
    ),
    "openbao-setup": (
        "jupyterlab_secrets.cli.openbao_setup.OpenBaoSetupApp",
        "Create the OpenBao KV v2 mount, the policies of the configured projects, and a "
        "JupyterHub's token role and policy.",
    ),
    "migrate": (
        "jupyterlab_secrets.cli.migrate.MigrateApp",
        "With --to-openbao: copy the SQL store into OpenBao.",
    ),
}
"""Every subcommand: its name, its class (imported when it runs), and one line of help."""


class SecretsExtension(SecretsSettings):
    """The server's settings (``SecretsExtension.*``) as the command line reads them: the
    same traits as the server extension's, without the server."""


class SecretsCommand(JupyterApp):
    """A command that works on the secrets store with the server's configuration.

    It reads the config files the server reads (so both see the same ``SecretsExtension.*``
    settings, which options like ``--SecretsExtension.db_url=...`` override) and opens the
    store and the service as the server does, without starting a server. A subclass
    implements `run`; a `SecretsError` (a refused rule, an unavailable store) ends the
    command with its message and status 1.
    """

    version = __version__
    classes = [SecretsExtension]
    aliases = {
        **base_aliases,
        "db-url": "SecretsExtension.db_url",
        "key-file": "SecretsExtension.key_file",
        "project": "SecretsExtension.project",
    }
    create_key = False
    """Whether this command may create a key file for an empty store (the server does)."""
    check_keys = True
    """Whether to refuse keys that open none of the project's secrets before running."""

    settings = Instance(SecretsSettings, allow_none=True)
    """The settings, once `open` has read them."""

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """Read the config files the server reads."""
        for name in CONFIG_FILES:
            try:
                Application.load_config_file(self, name, path=self.config_file_paths)
            except ConfigFileNotFound:
                self.log.debug("Config file not found, skipping: %s", name)

    def open(self) -> Opened:
        """The store and the service of the configured project."""
        take_credentials()  # also when started without `main` (an embedding application)
        self.settings = SecretsExtension(parent=self)
        return open_secrets(self.settings, create_key=self.create_key, check_keys=self.check_keys)

    def start(self) -> None:
        """Open the store, run the command, close the store."""
        try:
            opened = self.open()
        except SecretsError as error:
            self.log.error("%s", error.message)
            self.exit(1)
        try:
            self.run(opened)
        except SecretsError as error:
            # Refused by a rule or unavailable: the message says why, and never holds a value.
            self.log.error("%s", error.message)
            self.exit(1)
        finally:
            opened.store.close()

    def run(self, opened: Opened) -> None:
        """What the command does."""
        raise NotImplementedError


class SecretsApp(JupyterApp):
    """``jupyter secrets``: commands for jupyterlab-secrets."""

    name = "jupyter-secrets"
    version = __version__
    description = "Commands for jupyterlab-secrets, with the server's configuration."
    subcommands: dict[str, Any] = SUBCOMMANDS

    def start(self) -> None:
        """Run a subcommand, or explain them."""
        if self.subapp is None:
            self.print_help()
            print("Give a subcommand: " + ", ".join(self.subcommands), file=sys.stderr)
            self.exit(2)
        super().start()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jupyter-secrets`` console script."""
    # As the server does: hold the master key and the OpenBao token in memory only, so that
    # the commands this one starts (``jupyter secrets run -- CMD``) never inherit them.
    take_credentials()
    SecretsApp.launch_instance(argv=argv)
