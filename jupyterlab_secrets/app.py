"""The jupyter_server extension: configuration, key loading and wiring."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from traitlets import Dict, TraitError, Type, Unicode, default, validate

from .credentials import Credentials, take_credentials
from .crypto import KEY_ENV, DecryptionError, Keyring, KeyUnavailableError, load_keyring
from .handlers import route_table
from .migrations import SchemaError
from .service import SecretsService
from .store import SecretsStore, redact_url

_COMMUNITY_FIELDS = ("admins", "projects")


class UnavailableError(Exception):
    """The extension cannot serve; the message tells the operator what to fix."""


def _data_path(*parts: str) -> str:
    return os.path.join(jupyter_data_dir(), "jupyterlab_secrets", *parts)


class SecretsExtension(ExtensionApp):
    """Encrypted project secrets, served under ``{base_url}jupyterlab-secrets/api/``."""

    name = "jupyterlab_secrets"
    description = "Store notebook-project secrets encrypted and inject them into kernels."

    project = Unicode(
        "default",
        config=True,
        help="The project this server works in; secrets belong to one project.",
    )

    db_url = Unicode(
        config=True,
        help=(
            "The SQLAlchemy URL of the secrets database. Defaults to a SQLite file "
            "jupyterlab_secrets/secrets.db under the Jupyter data directory; use "
            "postgresql+psycopg://... for a team."
        ),
    )

    key_file = Unicode(
        config=True,
        help=(
            "The file holding the master key (base64 of 32 bytes; several keys separated by ';' "
            "while rotating). Created with mode 0600 on first start if the database holds no "
            f"secrets, and never overwritten. The environment variable {KEY_ENV} overrides it."
        ),
    )

    communities = Dict(
        config=True,
        help=(
            "Communities of projects, with their admins: "
            '{"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}.'
        ),
    )

    store_class = Type(
        default_value=SecretsStore,
        klass=SecretsStore,
        config=True,
        help="The class that stores encrypted secrets.",
    )

    @default("db_url")
    def _default_db_url(self) -> str:
        return "sqlite:///" + _data_path("secrets.db")

    @default("key_file")
    def _default_key_file(self) -> str:
        return _data_path("key")

    @property
    def credentials(self) -> Credentials:
        """The master key and OpenBao token this process read from its environment.

        Ask this, never ``os.environ``: the variables are removed from the environment once
        read, so that kernels, terminals and subprocesses of the server never inherit them.
        """
        return take_credentials()

    @validate("communities")
    def _validate_communities(self, proposal: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        return validate_communities(proposal["value"])

    def initialize_settings(self) -> None:
        """Open the store and the keys; on a key or database problem, serve 503 with the cause."""
        take_credentials()  # again, in case the extension was loaded without discovery
        self.store: SecretsStore | None = None
        self.service: SecretsService | None = None
        self.unavailable: str | None = None
        try:
            self.service = self.open_service()
        except UnavailableError as error:
            self.unavailable = str(error)
        if self.unavailable is not None:
            self.log.error("jupyterlab_secrets is unavailable: %s", self.unavailable)
        else:
            self.log.info(
                "jupyterlab_secrets serves project %r from %s",
                self.project,
                redact_url(self.db_url),
            )

    def open_store(self) -> SecretsStore:
        """Open the configured store; raise `UnavailableError` if the database cannot open."""
        try:
            self.store = self.store_class(db_url=self.db_url, parent=self)
        except SchemaError as error:
            raise UnavailableError(
                f"The secrets database {redact_url(self.db_url)} (SecretsExtension.db_url) "
                f"cannot be used: {error} Nothing was changed."
            ) from None
        except Exception as error:
            self.log.debug("Opening the secrets database failed", exc_info=True)
            raise UnavailableError(
                f"The secrets database {redact_url(self.db_url)} (SecretsExtension.db_url) "
                f"cannot be opened: {type(error).__name__}. Check that it is reachable and "
                "writable, then restart the server."
            ) from None
        return self.store

    def open_keyring(self, store: SecretsStore, *, create: bool = True) -> Keyring:
        """The master keys, from the environment or the key file (created for an empty store)."""
        try:
            keyring, source = load_keyring(
                env_value=self.credentials.key,
                key_file=Path(self.key_file).expanduser(),
                has_encrypted_rows=lambda: store.count() > 0,
                create=create,
                shared_store=self.shared_store_kind(),
            )
        except KeyUnavailableError as error:
            raise UnavailableError(str(error)) from None
        self.log.debug("jupyterlab_secrets keys come from %s", source)
        return keyring

    def shared_store_kind(self) -> str | None:
        """The kind of database when other servers may share it ("postgresql"), else None.

        Only a SQLite file is one server's own: a key file is never created for another store,
        since every server of a team must use the same key.
        """
        try:
            backend = make_url(self.db_url).get_backend_name()
        except ArgumentError:
            return None  # opening the store has already reported the bad URL
        return None if backend == "sqlite" else backend

    def key_source(self) -> str:
        """Where the master keys come from, for messages."""
        if self.credentials.key is not None:
            return f"the environment variable {KEY_ENV}"
        return f"the key file {self.key_file} (SecretsExtension.key_file)"

    def open_service(self) -> SecretsService:
        """Store, keys and rules, with the keys checked against the stored secrets."""
        store = self.open_store()
        try:
            keyring = self.open_keyring(store)
            service = SecretsService(store, keyring, self.project, self.communities)
            service.check_keys()
        except SQLAlchemyError as error:
            self.log.debug("Reading the secrets database failed", exc_info=True)
            raise UnavailableError(
                f"The secrets database {redact_url(self.db_url)} (SecretsExtension.db_url) "
                f"cannot be read: {type(error).__name__}. Check it, then restart the server."
            ) from None
        except DecryptionError:
            raise UnavailableError(
                f"The master key from {self.key_source()} cannot decrypt the stored secrets. "
                f"Restore the key that encrypted them (in the key file, or in {KEY_ENV}, where "
                "several keys separated by ';' may be listed while rotating). Nothing was changed."
            ) from None
        return service

    def initialize_handlers(self) -> None:
        """Register the REST routes (jupyter_server prefixes them with the base URL)."""
        self.handlers.extend(route_table(self.service, self.unavailable))

    async def stop_extension(self) -> None:
        """Close the database connections."""
        if self.store is not None:
            self.store.close()


def validate_communities(value: Any) -> dict[str, dict[str, list[str]]]:
    """Check the shape of `SecretsExtension.communities`; raise `TraitError` naming the fault."""
    example = '{"ml-team": {"admins": ["alice"], "projects": ["proj-a"]}}'
    if not isinstance(value, dict):
        raise TraitError(f"SecretsExtension.communities must be a dict like {example}.")
    result: dict[str, dict[str, list[str]]] = {}
    for name, spec in value.items():
        where = f"SecretsExtension.communities[{name!r}]"
        if not isinstance(name, str) or not name.strip():
            raise TraitError(
                f"SecretsExtension.communities has an empty or non-string name {name!r}."
            )
        if not isinstance(spec, dict):
            raise TraitError(f"{where} must be a dict like {example}.")
        unknown = sorted(str(key) for key in spec if key not in _COMMUNITY_FIELDS)
        if unknown:
            raise TraitError(
                f"{where} has unknown keys {unknown}; only 'admins' and 'projects' are allowed."
            )
        entry: dict[str, list[str]] = {}
        for field in _COMMUNITY_FIELDS:
            items = spec.get(field, [])
            if not isinstance(items, (list, tuple)) or not all(
                isinstance(item, str) and item for item in items
            ):
                raise TraitError(f"{where}[{field!r}] must be a list of non-empty strings.")
            entry[field] = list(items)
        result[name] = entry
    return result
