"""``jupyter secrets``: operator commands (``rotate-key``, ``generate-key``)."""

from __future__ import annotations

import sys
from typing import Any

from jupyter_core.application import JupyterApp, base_aliases
from traitlets.config import Application
from traitlets.config.loader import ConfigFileNotFound

from . import __version__
from .app import SecretsExtension, UnavailableError
from .crypto import KEY_ENV, DecryptionError, Sealed, encode_key, generate_key
from .store import SecretRecord

_CONFIG_FILES = ("jupyter_server_config", "jupyter_jupyterlab_secrets_config")


class GenerateKeyApp(JupyterApp):
    """Print a fresh random master key, base64-encoded."""

    name = "jupyter-secrets-generate-key"
    version = __version__
    description = (
        f"Print a fresh master key (base64 of 32 random bytes), for the key file or {KEY_ENV}."
    )

    def start(self) -> None:
        """Print the key and nothing else, so it can be piped."""
        print(encode_key(generate_key()))


class RotateKeyApp(JupyterApp):
    """Re-encrypt every secret under the first master key, in one transaction."""

    name = "jupyter-secrets-rotate-key"
    version = __version__
    description = (
        f"Re-encrypt every stored secret under the first key of {KEY_ENV} (or of the key file), "
        "in one transaction. List the new key first and the old ones after it, separated by "
        "';'. Reads the server's configuration (SecretsExtension.db_url, .key_file)."
    )
    classes = [SecretsExtension]
    aliases = {
        **base_aliases,
        "db-url": "SecretsExtension.db_url",
        "key-file": "SecretsExtension.key_file",
    }

    def load_config_file(self, suppress_errors: bool = True) -> None:  # type: ignore[override]
        """Read the config files the server reads, so both see the same settings."""
        for name in _CONFIG_FILES:
            try:
                Application.load_config_file(self, name, path=self.config_file_paths)
            except ConfigFileNotFound:
                self.log.debug("Config file not found, skipping: %s", name)

    def start(self) -> None:
        """Rotate, printing only counts."""
        extension = SecretsExtension(parent=self)
        try:
            store = extension.open_store()
            keyring = extension.open_keyring(store, create=False)
        except UnavailableError as error:
            self.log.error("%s", error)
            self.exit(1)
        failed = 0

        def reseal(record: SecretRecord) -> Sealed | None:
            nonlocal failed
            try:
                plaintext = keyring.decrypt(
                    record.sealed, project=record.project, secret_id=record.id
                )
            except DecryptionError:
                failed += 1
                raise
            if record.sealed.key_id == keyring.primary_key_id:
                return None
            return keyring.encrypt(plaintext, project=record.project, secret_id=record.id)

        try:
            changed, kept = store.reseal_all(reseal)
        except DecryptionError:
            self.log.error(
                "A stored secret cannot be decrypted with any of the given keys. Add the key "
                "that encrypted it to %s (after the new key). Nothing was changed.",
                KEY_ENV,
            )
            self.exit(1)
        finally:
            store.close()
        print(f"Re-encrypted {changed} secrets under the first key; {kept} already were.")


class SecretsApp(JupyterApp):
    """``jupyter secrets``: operator commands for jupyterlab-secrets."""

    name = "jupyter-secrets"
    version = __version__
    description = "Operator commands for jupyterlab-secrets."
    subcommands: dict[str, Any] = {
        "rotate-key": (RotateKeyApp, RotateKeyApp.description.splitlines()[0]),
        "generate-key": (GenerateKeyApp, GenerateKeyApp.description.splitlines()[0]),
    }

    def start(self) -> None:
        """Run a subcommand, or explain them."""
        if self.subapp is None:
            self.print_help()
            print("Give a subcommand: " + ", ".join(self.subcommands), file=sys.stderr)
            self.exit(2)
        super().start()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jupyter-secrets`` console script."""
    SecretsApp.launch_instance(argv=argv)


if __name__ == "__main__":
    main()
