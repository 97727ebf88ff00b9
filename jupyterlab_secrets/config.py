"""The configuration of jupyterlab-secrets, and opening its store and service from it.

The server extension and the command line read the same traits (``SecretsExtension.*``) from
the same config files, and open the store and the service through `open_secrets`, so the
command line needs no `ExtensionApp`.

Stores are opened by backend name (`open_store`): each name is an entry point of the group
``jupyterlab_secrets.stores`` naming a `StoreOpener`, a callable that takes the settings and
returns an open store. This package registers ``sqlite`` and ``postgresql`` (the SQL store)
and ``openbao`` (``backends.py``); another package registers its own the same way. The
settings choose the backend: ``openbao`` when ``openbao_url`` is set, else the scheme of
``db_url``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol

from jupyter_core.paths import jupyter_data_dir
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from traitlets import Bool, Dict, Float, Int, List, TraitError, Type, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from .credentials import AUDIT_KEY_ENV, KEY_ENV, Credentials, take_credentials
from .errors import UnavailableError, UndecryptableError
from .service import SecretsService
from .stores.base import KeyCheck, SecretStore, View
from .stores.sql_engine import redact_url

SECTION = "SecretsExtension"
"""The config section every setting is read from, for the server and the command line."""

_COMMUNITY_FIELDS = ("admins", "projects")

RETIRED_SETTINGS = {
    "audit_retention_days": (
        "SecretsExtension.audit_retention_days is no longer a setting, and is ignored: no "
        "server or command prunes the audit log when it opens the store. The operator prunes "
        "it, signed with the audit key: jupyter secrets audit --prune DAYS."
    ),
}
"""Settings of earlier releases that a config may still set: each is ignored, with a warning
saying why and what replaces it (an error would take every secret offline over a setting
whose absence loses nothing)."""

STORES_GROUP = "jupyterlab_secrets.stores"
"""The entry point group of store backends: a name, and the `StoreOpener` that opens it."""

BUILT_IN_BACKENDS = {
    "sqlite": "jupyterlab_secrets.backends:open_sql_store",
    "postgresql": "jupyterlab_secrets.backends:open_sql_store",
    "openbao": "jupyterlab_secrets.backends:open_openbao_store",
}
"""This package's backends, as ``pyproject.toml`` registers them: known by these names even
where the installed metadata is older than the code (a source checkout, an editable install
not yet refreshed)."""


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

    owner = Unicode(
        "",
        config=True,
        help=(
            "The user who owns this server (on JupyterHub, set by the hub to the server's hub "
            "user): only they act as a community admin here; anyone the server is shared with "
            "gets the project's rights. Empty: every user of the server is judged by "
            "communities (and, on OpenBao, by the token)."
        ),
    )

    store_class = Type(
        default_value="jupyterlab_secrets.stores.sql.SqlSecretStore",
        klass=SecretStore,
        config=True,
        help=(
            "The class of the SQL store, which the sqlite and postgresql backends open: a "
            "SecretStore taking db_url, keyring and keep_versions."
        ),
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
        min=0,
        config=True,
        help=(
            "Values shorter than this are not redacted from outputs: a short value is too "
            "likely to appear by chance, and redacting it there would reveal it."
        ),
    )

    keep_versions = Int(
        10,
        min=0,
        config=True,
        help="How many earlier versions of a value are kept (encrypted).",
    )

    audit_key_file = Unicode(
        "",
        config=True,
        help=(
            "The operator's audit key: an Ed25519 private key without a passphrase (ssh-keygen "
            "-t ed25519 -N '' -f FILE), with which jupyter secrets audit --anchor and --prune "
            "sign the audit log. The command reads it; no server needs it, and none should be "
            f"able to read it. The environment variable {AUDIT_KEY_ENV} overrides it."
        ),
    )

    audit_public_keys = List(
        Unicode(),
        config=True,
        help=(
            "The public keys of the audit key (the line of its .pub file: ssh-ed25519 AAAA...), "
            "whose signatures jupyter secrets audit --verify checks; list the earlier ones too "
            "after changing the audit key. Without any, the audit key's own is used."
        ),
    )

    audit_anchor_file = Unicode(
        config=True,
        help=(
            "Where jupyter secrets audit --anchor and --prune keep the newest signed event, "
            "and where --verify looks for it, to notice the newest events removed: keep it "
            "where no server can write. Defaults to jupyterlab_secrets/audit-anchor.json under "
            "the Jupyter data directory of whoever runs the command."
        ),
    )

    openbao_url = Unicode(
        "",
        config=True,
        help=(
            "An OpenBao (or Vault) address, or the nodes of one cluster separated by commas "
            "(tried in turn when one does not answer); when set, OpenBao is the store, and "
            f"db_url, key_file and {KEY_ENV} are not used."
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
            "BAO_TOKEN (or VAULT_TOKEN). The server deletes the file once read, so that its "
            "kernels cannot; jupyter secrets leaves it."
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

    @default("audit_anchor_file")
    def _default_audit_anchor_file(self) -> str:
        return _data_path("audit-anchor.json")

    @validate("communities")
    def _validate_communities(self, proposal: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        return validate_communities(proposal["value"])

    @validate("poll_interval")
    def _validate_poll_interval(self, proposal: Any) -> float:
        # Zero or less would check the store in a busy loop. (Float's ``min`` admits zero.)
        if not proposal["value"] > 0:
            raise TraitError("SecretsExtension.poll_interval must be more than 0 seconds.")
        return proposal["value"]

    def store_backend(self) -> str:
        """The name of the store backend these settings choose: ``openbao`` when
        ``openbao_url`` is set, else that of ``db_url`` (`db_backend`)."""
        return "openbao" if self.openbao_url else self.db_backend()

    def db_backend(self) -> str:
        """The backend named by the scheme of ``db_url``: ``sqlite``, ``postgresql`` (with
        any driver, as in ``postgresql+psycopg``), or one another package registers."""
        try:
            return make_url(self.db_url).get_backend_name()
        except ArgumentError:
            raise UnavailableError(
                "SecretsExtension.db_url is not a database URL (such as "
                "sqlite:////path/to/secrets.db or postgresql+psycopg://host/db). Nothing was "
                "changed."
            ) from None

    def store_description(self) -> str:
        """Where the secrets are, fit for logs (no password)."""
        if self.openbao_url:
            return f"OpenBao at {self.openbao_url}, mount {self.openbao_mount}"
        return redact_url(self.db_url)

    removes_token_file = False
    """Whether reading ``openbao_token_file`` deletes it: the server does, so that none of its
    kernels finds the token there; ``jupyter secrets``, run by an operator, leaves it in place
    for the server it was written for."""

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
            backend = self.db_backend()
        except UnavailableError:
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
    warn_retired_settings(settings)
    store = open_store(settings, create_key=create_key)
    try:
        service = SecretsService(
            store,
            settings.project,
            settings.communities,
            redact_outputs=settings.redact_outputs,
            redact_min_length=settings.redact_min_length,
            owner=settings.owner,
            log=settings.log,
        )
        checker = store.ability(KeyCheck) if check_keys else None
        if checker is not None:
            _check_keys(settings, store, checker, service.view)
    except BaseException:
        store.close()
        raise
    return Opened(store, service)


def warn_retired_settings(settings: SecretsSettings) -> None:
    """Warn about each setting of an earlier release that the config still sets
    (`RETIRED_SETTINGS`): it is ignored."""
    section = settings.config.get(SECTION) or {}
    for name, warning in RETIRED_SETTINGS.items():
        if name in section:
            settings.log.warning("%s", warning)


def warn_audit_key_held(settings: SecretsSettings) -> None:
    """Warn when a server can read the operator's audit key: it needs none, and whoever
    controls it could then sign a rewritten audit log."""
    where = []
    if settings.credentials.audit_key is not None:
        where.append(f"the environment variable {AUDIT_KEY_ENV}")
    if settings.audit_key_file and os.access(os.path.expanduser(settings.audit_key_file), os.R_OK):
        where.append(f"the file {settings.audit_key_file} (SecretsExtension.audit_key_file)")
    if where:
        settings.log.warning(
            "jupyterlab_secrets: this server can read the operator's audit key, from %s. No "
            "server needs it, and whoever controls one could sign a rewritten audit log with "
            "it: keep it only where jupyter secrets audit --anchor runs.",
            " and ".join(where),
        )


class StoreOpener(Protocol):
    """What a store backend's entry point names: it opens the store the settings describe,
    or raises `UnavailableError` saying what to fix (and changes nothing then)."""

    def __call__(self, settings: SecretsSettings, *, create_key: bool = True) -> SecretStore:
        """``create_key``: whether new key material may be made for a store that holds no
        secret yet (the server may; a command that only reads or rotates may not)."""


def store_backends() -> dict[str, EntryPoint]:
    """Every store backend by name: the built-in ones, and those registered in
    `STORES_GROUP`. A name registered twice, differently (a built-in one included), is
    refused (`UnavailableError`) rather than one of them chosen by chance."""
    found = {
        name: EntryPoint(name, value, STORES_GROUP) for name, value in BUILT_IN_BACKENDS.items()
    }
    targets = {name: {value} for name, value in BUILT_IN_BACKENDS.items()}
    for entry in entry_points(group=STORES_GROUP):
        targets.setdefault(entry.name, set()).add(entry.value)
        found.setdefault(entry.name, entry)
    for name, values in targets.items():
        if len(values) > 1:
            raise UnavailableError(
                f"The store backend {name!r} is registered more than once, differently "
                f"({', '.join(sorted(values))}): uninstall the package that should not "
                "provide it."
            )
    return found


def open_store(
    settings: SecretsSettings, *, backend: str | None = None, create_key: bool = True
) -> SecretStore:
    """Open the store of ``backend`` (by default the one the settings choose,
    `SecretsSettings.store_backend`); raise `UnavailableError` with what to fix."""
    name = backend if backend is not None else settings.store_backend()
    backends = store_backends()
    entry = backends.get(name)
    if entry is None:
        raise UnavailableError(
            f"No store backend is named {name!r}: the backends are "
            f"{', '.join(sorted(backends))}. Set SecretsExtension.db_url to a URL of one of "
            "them, or SecretsExtension.openbao_url; a package adds a backend in the entry "
            f"point group {STORES_GROUP}."
        )
    try:
        opener: StoreOpener = entry.load()
    except (ImportError, AttributeError) as error:
        raise UnavailableError(
            f"The store backend {name!r} cannot be loaded from {entry.value}: {error}."
        ) from None
    store = opener(settings, create_key=create_key)
    if not isinstance(store, SecretStore):
        raise UnavailableError(
            f"The store backend {name!r} ({entry.value}) did not open a SecretStore."
        )
    return store


def _check_keys(
    settings: SecretsSettings, store: SecretStore, checker: KeyCheck, view: View
) -> None:
    """Refuse to serve with keys that open none of the project's secrets (a wrong key);
    serve, and mark them, when only some cannot be opened (one bad row never takes the
    others offline)."""
    try:
        checker.check_keys(view)
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
