"""The configuration of jupyterlab-secrets, and opening its store and service from it.

The server extension and the command line read the same traits (``SecretsExtension.*``, as
DESIGN.md names them) from the same config files, and open the store and the service through
`open_secrets`, so the command line needs no `ExtensionApp`.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from traitlets import Bool, Dict, Float, Int, TraitError, Type, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from .credentials import Credentials, take_credentials
from .crypto import KEY_ENV, KeyUnavailableError, load_keyring
from .errors import UnavailableError, UndecryptableError
from .migrations import SchemaError
from .service import SecretsService
from .stores.base import SecretStore, View
from .stores.sql import SqlSecretStore, count_stored_secrets
from .stores.sql_engine import redact_url

SECTION = "SecretsExtension"
"""The config section every setting is read from, for the server and the command line."""

_COMMUNITY_FIELDS = ("admins", "projects")

PRUNE_USER = "jupyter-server"
"""Who prunes the audit log when a server or command opens the store."""


def _data_path(*parts: str) -> str:
    return os.path.join(jupyter_data_dir(), "jupyterlab_secrets", *parts)


class SecretsSettings(LoggingConfigurable):
    """The settings of jupyterlab-secrets, read from the ``SecretsExtension`` section."""

    @classmethod
    def section_names(cls) -> list[str]:
        """Read ``SecretsExtension.*``, whichever class holds the settings."""
        names = list(super().section_names())
        return names if SECTION in names else [*names, SECTION]

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
        default_value=SqlSecretStore,
        klass=SecretStore,
        config=True,
        help="The class that stores secrets (a SecretStore).",
    )

    redact_outputs = Bool(
        True,
        config=True,
        help=(
            "Replace the values of a kernel's secrets in every output sent to a client with "
            "[REDACTED:<name>]."
        ),
    )

    redact_min_length = Int(
        8,
        config=True,
        help=(
            "Values shorter than this are not redacted from outputs: a short value is too "
            "likely to appear by chance, and redacting it there would reveal it."
        ),
    )

    keep_versions = Int(
        10,
        config=True,
        help="How many earlier versions of a value are kept (encrypted).",
    )

    audit_retention_days = Int(
        365,
        config=True,
        help=(
            "How many days the audit log keeps an event (SQL store); 0 keeps every event. "
            "Older events are pruned when the store is opened, and the pruning is recorded."
        ),
    )

    openbao_url = Unicode(
        "",
        config=True,
        help=(
            "An OpenBao (or Vault) address; when set, OpenBao is the store, and db_url, "
            f"key_file and {KEY_ENV} are not used."
        ),
    )

    openbao_mount = Unicode(
        "jupyterlab-secrets",
        config=True,
        help="The KV v2 mount that holds the secrets in OpenBao.",
    )

    openbao_token_file = Unicode(
        "",
        config=True,
        help=(
            "A file holding this server's OpenBao token; otherwise the environment variable "
            "BAO_TOKEN (or VAULT_TOKEN)."
        ),
    )

    poll_interval = Float(
        3.0,
        config=True,
        help=(
            "Seconds between two checks of the store's change marker, once per server: how "
            "soon a change made on another server of the same store reaches this server's "
            "running kernels. (The server's setting; jupyter secrets does not poll.)"
        ),
    )

    @default("db_url")
    def _default_db_url(self) -> str:
        return "sqlite:///" + _data_path("secrets.db")

    @default("key_file")
    def _default_key_file(self) -> str:
        return _data_path("key")

    @validate("communities")
    def _validate_communities(self, proposal: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        return validate_communities(proposal["value"])

    @validate("keep_versions", "redact_min_length", "audit_retention_days")
    def _validate_not_negative(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"SecretsExtension.{proposal['trait'].name} must not be negative.")
        return proposal["value"]

    @validate("poll_interval")
    def _validate_poll_interval(self, proposal: Any) -> float:
        # Zero or less would check the store in a busy loop.
        if not proposal["value"] > 0:
            raise TraitError("SecretsExtension.poll_interval must be more than 0 seconds.")
        return proposal["value"]

    def store_description(self) -> str:
        """Where the secrets are, fit for logs (no password)."""
        if self.openbao_url:
            return f"OpenBao at {self.openbao_url}, mount {self.openbao_mount}"
        return redact_url(self.db_url)

    @property
    def credentials(self) -> Credentials:
        """The master key and OpenBao token this process read from its environment.

        Ask this, never ``os.environ``: the variables are removed from the environment once
        read, so that kernels, terminals and commands started by this process never inherit
        them.
        """
        return take_credentials()

    def shared_store_kind(self) -> str | None:
        """The kind of database when other servers may share it ("postgresql"), else None.

        Only a SQLite file is one server's own: a key file is never created for another store,
        since every server of a team must use the same key.
        """
        try:
            backend = make_url(self.db_url).get_backend_name()
        except ArgumentError:
            return None  # opening the store reports the bad URL
        return None if backend == "sqlite" else backend

    def key_source(self) -> str:
        """Where the master keys come from, for messages."""
        if self.credentials.key is not None:
            return f"the environment variable {KEY_ENV}"
        return f"the key file {self.key_file} (SecretsExtension.key_file)"


@dataclass
class Opened:
    """An open store and the service of the configured project over it."""

    store: SecretStore
    service: SecretsService


def open_secrets(
    settings: SecretsSettings, *, create_key: bool = True, check_keys: bool = True
) -> Opened:
    """Open the configured store, and the service of the configured project over it.

    Raises `UnavailableError` with what to fix (nothing is changed then). ``create_key``:
    whether a key file may be created for a store that holds no secret yet (the server may;
    a command that only reads or rotates may not). ``check_keys``: whether to refuse keys
    that open none of the project's secrets (rotation checks every value itself).
    """
    store = open_store(settings, create_key=create_key)
    try:
        service = SecretsService(
            store,
            settings.project,
            settings.communities,
            redact_outputs=settings.redact_outputs,
            redact_min_length=settings.redact_min_length,
            log=settings.log,
        )
        if check_keys and isinstance(store, SqlSecretStore):
            _check_keys(settings, store, service.view)
        if settings.audit_retention_days and isinstance(store, SqlSecretStore):
            cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(
                days=settings.audit_retention_days
            )
            store.audit.prune(cutoff, user=PRUNE_USER, server_project=settings.project)
    except BaseException:
        store.close()
        raise
    return Opened(store, service)


def open_store(settings: SecretsSettings, *, create_key: bool = True) -> SecretStore:
    """Open the configured store; raise `UnavailableError` with what to fix."""
    if settings.openbao_url:
        return open_openbao_store(settings)
    return open_sql_store(settings, create_key=create_key)


def open_openbao_store(settings: SecretsSettings) -> SecretStore:
    """Open the OpenBao store of ``openbao_url`` with this server's token (from
    ``openbao_token_file``, or ``BAO_TOKEN``/``VAULT_TOKEN``), checking that OpenBao answers
    and accepts it. No key, value or token is written anywhere."""
    try:
        from .openbao_admin import read_token
        from .stores.openbao import OpenBaoSecretStore
    except ImportError as error:
        raise UnavailableError(
            f"SecretsExtension.openbao_url is set, but {error.name} is not installed: "
            "pip install 'jupyterlab_secrets[openbao]'."
        ) from None
    store = OpenBaoSecretStore(
        url=settings.openbao_url,
        token=read_token(settings.openbao_token_file, settings.credentials),
        mount=settings.openbao_mount,
        keep_versions=settings.keep_versions,
        parent=settings,
    )
    try:
        policies = store.check()
    except BaseException:
        store.close()
        raise
    settings.log.info("jupyterlab_secrets' OpenBao token holds the policies %s", policies)
    return store


def open_sql_store(settings: SecretsSettings, *, create_key: bool = True) -> SecretStore:
    """Open the SQL store of ``db_url`` with the master keys (from the credentials taken
    from the environment, or the key file, which is created only for a SQLite database of
    one's own that holds no secret)."""
    where = f"The secrets database {redact_url(settings.db_url)} (SecretsExtension.db_url)"

    def cannot_open(error: Exception) -> UnavailableError:
        settings.log.debug("Opening the secrets database failed", exc_info=True)
        if isinstance(error, UnavailableError):
            return error
        return UnavailableError(
            f"{where} cannot be opened: {type(error).__name__}. Check that it is reachable "
            "and writable, then restart the server."
        )

    try:
        has_secrets = count_stored_secrets(settings.db_url) > 0
    except Exception as error:
        raise cannot_open(error) from None
    try:
        keyring, source = load_keyring(
            env_value=settings.credentials.key,
            key_file=Path(settings.key_file).expanduser(),
            has_encrypted_rows=lambda: has_secrets,
            create=create_key,
            shared_store=settings.shared_store_kind(),
        )
    except KeyUnavailableError as error:
        raise UnavailableError(str(error)) from None
    settings.log.debug("jupyterlab_secrets keys come from %s", source)
    try:
        return settings.store_class(  # type: ignore[no-any-return]
            db_url=settings.db_url,
            keyring=keyring,
            keep_versions=settings.keep_versions,
            parent=settings,
        )
    except SchemaError as error:
        raise UnavailableError(f"{where} cannot be used: {error} Nothing was changed.") from None
    except Exception as error:
        raise cannot_open(error) from None


def _check_keys(settings: SecretsSettings, store: SqlSecretStore, view: View) -> None:
    """Refuse to serve with keys that open none of the project's secrets (a wrong key);
    serve, and mark them, when only some cannot be opened (one bad row never takes the
    others offline)."""
    try:
        store.check_keys(view)
        return
    except UndecryptableError:
        pass
    ids = [secret.id for secret in store.list(view)]
    values = store.read_values(view, ids)
    if ids and all(value is None for value in values.values()):
        raise UnavailableError(
            f"The master key from {settings.key_source()} cannot decrypt the stored secrets. "
            f"Restore the key that encrypted them (in the key file, or in {KEY_ENV}, where "
            "several keys separated by ';' may be listed while rotating). Nothing was changed."
        )
    settings.log.warning(
        "%d of this project's %d secrets cannot be decrypted with the master key from %s; "
        "the others are served.",
        sum(value is None for value in values.values()),
        len(ids),
        settings.key_source(),
    )


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
