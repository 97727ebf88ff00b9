"""The rules of secrets: names, values, projects, communities, and who may do what.

`SecretsService` is the domain API of one project. It takes typed arguments, returns
dataclasses, and raises the domain errors of `jupyterlab_secrets.errors`; it knows nothing of
HTTP, JSON or entity tags (that is `jupyterlab_secrets.rest`). It works on any `SecretStore`
as seen from this project's `View`, and takes its name and value rules from
`jupyterlab_secrets.rules`; which secrets go into the project's environment, and why the
others do not, it takes from `jupyterlab_secrets.precedence`. No message it raises holds a
secret value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import rules
from .audit import AuditEntry, AuditEvent, AuditLog
from .errors import (
    AuditElsewhereError,
    ForbiddenError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    StaleVersionError,
    UnavailableError,
    UndecryptableError,
)
from .precedence import Explanation, NotInjectedReason, Precedence
from .stores.base import (
    SECRET_ID_PATTERN,
    Recorder,
    SecretStore,
    SharingPolicy,
    StoredSecret,
    ValueCache,
    VersionInfo,
    View,
)

__all__ = [
    "Change",
    "CommunityInfo",
    "Explanation",
    "Listing",
    "NotInjectedReason",
    "SecretMeta",
    "SecretsService",
    "VersionInfo",
]

MAX_VERSION = 2**31 - 1
"""The largest version number a client may send (a 32-bit integer, as every store keeps)."""

_SECRET_ID = re.compile(SECRET_ID_PATTERN)


@dataclass(frozen=True)
class SecretMeta:
    """A secret's public metadata, as seen from one project. Never its value."""

    id: str
    name: str
    project: str
    """The project that owns it."""
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    updated_by: str
    version: int
    shared_with: tuple[str, ...]
    explanation: Explanation
    """Whether this project's kernels get it, and why not (see `Explanation`)."""


@dataclass(frozen=True)
class Listing:
    """A project's own secrets and those shared with it, sorted by name (own ones first)."""

    project: str
    secrets: list[SecretMeta]


@dataclass(frozen=True)
class CommunityInfo:
    """One community of this project, as one user sees it."""

    name: str
    is_admin: bool
    projects: list[str]


@dataclass(frozen=True)
class Community:
    """A configured community: a named group of projects with named admins."""

    name: str
    admins: frozenset[str]
    projects: frozenset[str]


@dataclass(frozen=True)
class Change:
    """What a successful write through the service changed, for `SecretsService.listeners`.

    Never a value: a listener that needs the new state reads it (``environment``).
    """

    action: str
    """``create``, ``update``, ``delete``, ``copy``, ``share``, ``attach``, ``detach`` or
    ``restore``."""
    project: str
    """The project whose service made the change."""
    user: str
    secret_id: str


Listener = Callable[[Change], None]

_log = logging.getLogger(__name__)


class SecretsService:
    """The secrets of one project: its own, and those shared with its communities."""

    def __init__(
        self,
        store: SecretStore,
        project: str,
        communities: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        redact_outputs: bool = True,
        redact_min_length: int = 8,
        owner: str = "",
        log: logging.Logger | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self.owner = owner
        """The one user who may act as a community admin here ("": any)."""
        self.redact_outputs = redact_outputs
        self.redact_min_length = redact_min_length
        self.log = log or _log
        self.communities_config = {
            name: Community(
                name=name,
                admins=frozenset(spec.get("admins", ())),
                projects=frozenset(spec.get("projects", ())),
            )
            for name, spec in (communities or {}).items()
        }
        self.view = View(
            project=project,
            communities=tuple(
                sorted(c.name for c in self.communities_config.values() if project in c.projects)
            ),
        )
        """This project, and the communities it belongs to: how the store is asked."""
        self.audit: AuditLog | None = store.audit_log()
        """Where every action is recorded (None: the store keeps no log of its own)."""
        self.listeners: list[Listener] = []
        """Called after each successful write with its `Change`, in the thread that made it
        (the kernels' injector subscribes). A listener that raises is logged and skipped."""
        self._decryptable: dict[tuple[str, int], bool] = {}
        """Whether each (ID, version) decrypts, learned by reading it: a listing marks a bad
        row without decrypting every value on every state of the listing."""
        self._config_marker = self._marker_of_config()

    # -- reads -------------------------------------------------------------------------

    def change_marker(self) -> str:
        """A string that changes whenever a listing or the environment of this project may
        change: the store's marker for this view, and this server's configuration. O(1)."""
        return f"{self._config_marker}:{self.store.change_marker(self.view)}"

    def list(self, user: str) -> Listing:
        """The project's own secrets and those shared with it, by name, own ones first."""
        stored = self.store.list(self.view)
        precedence = Precedence.of(self.project, stored)
        self._learn_decryptable(stored, precedence, keep_only=True)
        order = sorted(stored, key=lambda s: (s.name, s.project != self.project, s.project, s.id))
        return Listing(self.project, [self._meta(secret, precedence) for secret in order])

    def get(self, user: str, secret_id: str) -> SecretMeta:
        """The metadata of one visible secret."""
        return self._meta_in_context(self._find(secret_id))

    def reveal(self, user: str, secret_id: str) -> str:
        """The value of a visible secret."""
        secret = self._find(secret_id)
        value = self._read_value(secret)
        self.record(user, "reveal", secret)
        return value

    def environment(self, user: str, action: str = "environment") -> dict[str, str]:
        """What this project's kernels get: its own secrets, then the shared ones added to it
        under the name they had when added, unless a rule keeps one out (see `Explanation`).

        A value that cannot be decrypted is left out (and logged by name): one bad row never
        keeps the others from the kernels.
        """
        stored = self.store.list(self.view)
        candidates = Precedence.of(self.project, stored).injectable(stored)
        values = self.store.read_values(self.view, [s.id for s in candidates], cached=True)
        environment: dict[str, str] = {}
        for secret in candidates:
            value = values.get(secret.id)
            self._decryptable[(secret.id, secret.version)] = value is not None
            if value is None:
                self.log.warning(
                    "Secret %s (%s of project %r) cannot be decrypted with the configured "
                    "keys; it is left out of the environment.",
                    secret.id,
                    secret.name,
                    secret.project,
                )
                continue
            environment[secret.name] = value
        # ``action``: ``run`` when a command gets it. Names only, never a value.
        self.record(user, action, detail={"names": sorted(environment)})
        return environment

    def warm(self) -> int | None:
        """Have a store that keeps values in memory read the environment's values now, ahead
        of the first kernel; return how many it keeps, or None when the store keeps none.
        Nothing is recorded: no value leaves the server."""
        cache = self.store.ability(ValueCache)
        if cache is None:
            return None
        stored = self.store.list(self.view)
        candidates = Precedence.of(self.project, stored).injectable(stored)
        return cache.warm(self.view, [s.id for s in candidates])

    def versions(self, user: str, secret_id: str) -> list[VersionInfo]:
        """The kept versions of a visible secret, newest (current) first. Never a value."""
        self._find(secret_id)
        try:
            return self.store.versions(self.view, secret_id)
        except NotFoundError:
            raise _no_such_secret() from None

    def communities(self, user: str) -> list[CommunityInfo]:
        """The communities of this project, and whether ``user`` administers each: as the
        store's own policy says where it decides (OpenBao), else as configured."""
        return [
            CommunityInfo(
                name=name,
                is_admin=self._is_admin(user, name),
                projects=sorted(self.communities_config[name].projects),
            )
            for name in self.view.communities
        ]

    def _is_admin(self, user: str, community: str) -> bool:
        return self._admin_refusal(user, community) is None

    def _admin_refusal(self, user: str, community: str) -> str | None:
        """Why ``user`` may not share with ``community`` here, or None when they may.

        Only the server's owner (when it has one) acts as an admin. Where the store's own
        policy decides (OpenBao), the configured admins narrow it, never widen it: a
        community that lists admins has no other; one that lists none leaves it to the
        store. Elsewhere the configured admins decide."""
        if self.owner and user != self.owner:
            return (
                f"This server is {self.owner}'s: only its owner acts as an admin of community "
                f"{community!r} on it."
            )
        admins = self.communities_config[community].admins
        policy = self.store.ability(SharingPolicy)
        if policy is None or admins:
            if user not in admins:
                return f"Only an admin of community {community!r} can change sharing with it."
        if policy is not None and not policy.community_admin(self.view, community):
            # The store refuses when asked, with its own reason: let it say it.
            return ""
        return None

    # -- writes ------------------------------------------------------------------------

    def create(self, user: str, name: str, value: str) -> SecretMeta:
        """A new secret of this project."""
        rules.check_name(name)
        rules.check_value(value)
        meta = self._new_secret(user, name, value, self._recorder(user, "create"))
        self._notify("create", user, meta.id)
        return meta

    def patch(
        self,
        user: str,
        secret_id: str,
        version: int,
        name: str | None = None,
        value: str | None = None,
    ) -> SecretMeta:
        """Rename this project's secret and/or change its value, if ``version`` is current."""
        if name is None and value is None:
            raise InvalidInputError("Give a new name, a new value, or both.")
        if name is not None:
            rules.check_name(name)
        if value is not None:
            rules.check_value(value)
        secret = self._find_own(secret_id, "edit")
        if not 1 <= version <= MAX_VERSION:
            raise _stale()

        def detail(updated: StoredSecret) -> dict[str, Any]:
            described: dict[str, Any] = {
                "version": updated.version,
                "value_changed": value is not None,
            }
            if updated.name != secret.name:
                described["renamed_from"] = secret.name
            return described

        record = self._recorder(user, "update", detail)
        updated = self._update(secret, version, user, name=name, value=value, record=record)
        self._notify("update", user, secret_id)
        return updated

    def delete(self, user: str, secret_id: str) -> None:
        """Delete this project's secret, with its versions, shares and attachments."""
        self._find_own(secret_id, "delete")  # another project's secret is refused first
        try:
            self.store.delete(self.view, secret_id, record=self._recorder(user, "delete"))
        except NotFoundError:
            raise _no_such_secret() from None
        self._notify("delete", user, secret_id)

    def copy(self, user: str, secret_id: str, name: str, value: str | None = None) -> SecretMeta:
        """A new, independent secret in this project, with the source's value or ``value``."""
        rules.check_name(name)
        if value is not None:
            rules.check_value(value)
        source = self._find(secret_id)
        value_given = value is not None
        if value is None:
            value = self._read_value(source)
        copied = {
            "source_id": source.id,
            "source_name": source.name,
            "source_project": source.project,
            "new_value": value_given,
        }
        meta = self._new_secret(user, name, value, self._recorder(user, "copy", lambda _: copied))
        self._notify("copy", user, meta.id)
        return meta

    def set_access(self, user: str, secret_id: str, communities: Iterable[str]) -> SecretMeta:
        """Share this project's secret with exactly ``communities`` (configured ones).

        Only the owning project may, and only an admin of every community added or removed.
        Projects that can no longer see the secret lose it from their environment.
        """
        wanted = set(communities)
        secret = self._find(secret_id)
        if secret.project != self.project:
            raise ForbiddenError(
                f"This secret belongs to project {secret.project!r}: only that project can "
                "change its sharing."
            )
        for name in sorted(wanted):
            if name not in self.communities_config:
                raise InvalidInputError(f"There is no community {name!r}.", "communities")
            if self.project not in self.communities_config[name].projects:
                raise InvalidInputError(
                    f"Project {self.project!r} is not in community {name!r}, so its "
                    "secrets cannot be shared with it.",
                    "communities",
                )
        # Shares with communities no longer configured are left alone: they grant nothing.
        current = {c for c in secret.shared_with if c in self.communities_config}
        added, removed = wanted - current, current - wanted
        for name in sorted(added | removed):
            refusal = self._admin_refusal(user, name)
            # "": the store's own policy (OpenBao) refuses, with its reason.
            if refusal:
                raise ForbiddenError(refusal)
        if not added and not removed:
            return self._meta_in_context(secret)
        still = set(secret.shared_with) - removed | added
        seeing = {p for c in still if c in self.communities_config for p in self._projects(c)}
        detach = {p for c in removed for p in self._projects(c)} - seeing - {self.project}
        events = []
        if added:
            events.append(("share", {"communities": sorted(added)}))
        if removed:
            events.append(("unshare", {"communities": sorted(removed), "detached": sorted(detach)}))
        try:
            updated = self.store.set_shares(
                self.view,
                secret_id,
                add=sorted(added),
                remove=sorted(removed),
                detach=detach,
                record=self._recorder_of(user, events),
            )
        except NotFoundError:
            raise _no_such_secret() from None
        self._notify("share", user, secret_id)
        return self._meta_in_context(updated)

    def set_attached(self, user: str, secret_id: str, attached: bool) -> SecretMeta:
        """Add a secret shared with this project to its environment, under the name it has
        now, or remove it."""
        secret = self._find(secret_id)
        if secret.project == self.project:
            raise InvalidInputError(
                "This secret belongs to this project; only shared secrets are added."
            )
        try:
            updated = self.store.set_attachment(
                self.view,
                secret_id,
                secret.name if attached else None,
                record=self._recorder(user, "attach" if attached else "detach"),
            )
        except NotFoundError:
            raise _no_such_secret() from None
        self._notify("attach" if attached else "detach", user, secret_id)
        return self._meta_in_context(updated)

    def restore(self, user: str, secret_id: str, version: int, current_version: int) -> SecretMeta:
        """Make a new version of this project's secret holding the value of ``version``,
        if ``current_version`` is still current."""
        secret = self._find_own(secret_id, "restore")
        if secret.version != current_version:
            raise _stale()
        if not 1 <= version <= MAX_VERSION:
            raise _version_gone()
        try:
            value = self.store.read_version(self.view, secret_id, version)
        except NotFoundError:
            raise _version_gone() from None
        except UndecryptableError:
            raise _undecryptable() from None
        record = self._recorder(
            user,
            "restore",
            lambda restored: {"from_version": version, "version": restored.version},
        )
        restored = self._update(secret, current_version, user, value=value, record=record)
        self._notify("restore", user, secret_id)
        return restored

    def outputs_not_redacted(self) -> None:
        """This server cannot redact kernel outputs after all (its kernel websockets or its
        kernel manager are not ones the extension can work with): Meta stops saying that
        values are hidden in outputs."""
        self.redact_outputs = False
        self._config_marker = self._marker_of_config()

    def _marker_of_config(self) -> str:
        """What of this server's configuration shows in its answers: part of their ETags."""
        return hashlib.sha256(
            repr(
                (
                    self.project,
                    sorted(
                        (c.name, sorted(c.admins), sorted(c.projects))
                        for c in self.communities_config.values()
                    ),
                    self.redact_outputs,
                    self.redact_min_length,
                )
            ).encode()
        ).hexdigest()[:16]

    # -- the audit log -----------------------------------------------------------------

    def record(
        self,
        user: str,
        action: str,
        secret: SecretMeta | StoredSecret | None = None,
        *,
        detail: Mapping[str, Any] | None = None,
        strict: bool = True,
    ) -> None:
        """Record an action that is not a write of one secret (a reveal, the environment, an
        import's summary) in the audit log, if the store keeps one. Never a value: ``detail``
        holds names, counts and versions. Writes are recorded by the store, in their own
        transaction (`_recorder`).

        ``strict``: the action hands out values, so it is refused (`UnavailableError`) when it
        cannot be recorded; otherwise (an action already done) the failure is logged.
        """
        if self.audit is None:
            return
        try:
            self.audit.append(self._entry(user, action, secret, detail))
        except Exception:
            self.log.exception("The audit log could not record %r by %r", action, user)
            if not strict:
                return
            raise UnavailableError(
                "The audit log cannot record this right now, so no value is given out. "
                "Try again; if it persists, the server's log says why."
            ) from None

    def _entry(
        self,
        user: str,
        action: str,
        secret: SecretMeta | StoredSecret | None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        return AuditEntry(
            user=user,
            project=secret.project if secret is not None else self.project,
            server_project=self.project,
            action=action,
            secret_id=secret.id if secret is not None else None,
            secret_name=secret.name if secret is not None else None,
            detail=detail,
        )

    def _recorder(
        self,
        user: str,
        action: str,
        detail: Callable[[StoredSecret], Mapping[str, Any]] | None = None,
    ) -> Recorder | None:
        """What a write hands its store to record, in the write's transaction, with the
        secret as the write leaves it; None when the store keeps no audit log."""
        return self._recorder_of(user, [(action, detail)])

    def _recorder_of(
        self,
        user: str,
        events: Sequence[
            tuple[str, Mapping[str, Any] | Callable[[StoredSecret], Mapping[str, Any]] | None]
        ],
    ) -> Recorder | None:
        """A recorder of several events (a share and an unshare in one write)."""
        if self.audit is None:
            return None

        def record(secret: StoredSecret) -> list[AuditEntry]:
            return [
                self._entry(user, action, secret, detail(secret) if callable(detail) else detail)
                for action, detail in events
            ]

        return record

    def audit_events(
        self,
        user: str,
        secret_id: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[AuditEvent]:
        """The audit events of this project's secrets (and of this project's server), newest
        first; `AuditElsewhereError` when the store keeps no log of its own."""
        if self.audit is None:
            raise AuditElsewhereError(
                "This store keeps no audit log of its own: another system records what is "
                "done with the secrets. Ask its operator for that record."
            )
        if secret_id is not None and _SECRET_ID.fullmatch(secret_id) is None:
            raise InvalidInputError("secret_id is not a secret ID.", "secret_id")
        try:
            return self.audit.events(self.project, secret_id, limit, before)
        except KeyError:
            raise InvalidInputError("There is no audit event with this ID.", "before") from None

    # -- helpers -----------------------------------------------------------------------

    def _projects(self, community: str) -> frozenset[str]:
        return self.communities_config[community].projects

    def _find(self, secret_id: str) -> StoredSecret:
        """The secret, if this project may see it; `NotFoundError` otherwise."""
        # Refused before any store sees it: an ID is never anything but its own format.
        if _SECRET_ID.fullmatch(secret_id) is None:
            raise _no_such_secret()
        try:
            return self.store.get(self.view, secret_id)
        except NotFoundError:
            raise _no_such_secret() from None

    def _find_own(self, secret_id: str, action: str) -> StoredSecret:
        secret = self._find(secret_id)
        if secret.project != self.project:
            raise ForbiddenError(
                f"This secret belongs to project {secret.project!r}: you cannot {action} it "
                "here, but you can copy it."
            )
        return secret

    def _read_value(self, secret: StoredSecret) -> str:
        try:
            values = self.store.read_values(self.view, [secret.id])
        except UndecryptableError:
            values = {secret.id: None}
        if secret.id not in values:
            raise _no_such_secret()
        value = values[secret.id]
        self._decryptable[(secret.id, secret.version)] = value is not None
        if value is None:
            raise _undecryptable()
        return value

    def _new_secret(self, user: str, name: str, value: str, record: Recorder | None) -> SecretMeta:
        try:
            created = self.store.create(self.view, name=name, value=value, user=user, record=record)
        except NameTakenError:
            raise _name_taken() from None
        self._decryptable[(created.id, created.version)] = True
        return self._meta(created, Precedence.of(self.project, [created]))

    def _update(
        self,
        secret: StoredSecret,
        expected_version: int,
        user: str,
        *,
        name: str | None = None,
        value: str | None = None,
        record: Recorder | None = None,
    ) -> SecretMeta:
        try:
            updated = self.store.update(
                self.view,
                secret.id,
                expected_version=expected_version,
                user=user,
                name=name,
                value=value,
                record=record,
            )
        except StaleVersionError:
            raise _stale() from None
        except NameTakenError:
            raise _name_taken() from None
        except NotFoundError:
            raise _no_such_secret() from None
        if value is not None:
            self._decryptable[(updated.id, updated.version)] = True
        return self._meta_in_context(updated)

    def _notify(self, action: str, user: str, secret_id: str) -> None:
        change = Change(action=action, project=self.project, user=user, secret_id=secret_id)
        for listener in list(self.listeners):
            try:
                listener(change)
            except Exception:
                self.log.exception("A listener of secret changes failed")

    # -- what is injected --------------------------------------------------------------

    def _learn_decryptable(
        self, stored: Sequence[StoredSecret], precedence: Precedence, *, keep_only: bool
    ) -> None:
        """Try to decrypt the injectable secrets whose state this service has not read yet."""
        wanted = precedence.injectable(stored)
        unknown = [s for s in wanted if (s.id, s.version) not in self._decryptable]
        if unknown:
            values = self.store.read_values(self.view, [s.id for s in unknown], cached=True)
            for secret in unknown:
                if secret.id in values:
                    self._decryptable[(secret.id, secret.version)] = values[secret.id] is not None
        if keep_only:
            kept = {(s.id, s.version) for s in stored}
            self._decryptable = {k: v for k, v in self._decryptable.items() if k in kept}

    def _meta_in_context(self, secret: StoredSecret) -> SecretMeta:
        """`_meta` of one secret; a shared one needs the others of its name."""
        rivals = [secret]
        if secret.project != self.project:
            rivals = [s for s in self.store.list(self.view) if s.name == secret.name]
        precedence = Precedence.of(self.project, rivals)
        self._learn_decryptable([secret], precedence, keep_only=False)
        return self._meta(secret, precedence)

    def _meta(self, secret: StoredSecret, precedence: Precedence) -> SecretMeta:
        return SecretMeta(
            id=secret.id,
            name=secret.name,
            project=secret.project,
            created_by=secret.created_by,
            created_at=secret.created_at,
            updated_at=secret.updated_at,
            updated_by=secret.updated_by,
            version=secret.version,
            shared_with=tuple(secret.shared_with),
            explanation=precedence.explain(
                secret,
                decryptable=self._decryptable.get((secret.id, secret.version), True),
                redact_outputs=self.redact_outputs,
                redact_min_length=self.redact_min_length,
            ),
        )


def _no_such_secret() -> NotFoundError:
    return NotFoundError("No such secret.")


def _stale() -> StaleVersionError:
    return StaleVersionError(
        "This secret was changed by someone else. Reload it and try again.", "version"
    )


def _name_taken() -> NameTakenError:
    return NameTakenError("A secret with this name already exists in this project.", "name")


def _version_gone() -> NotFoundError:
    return NotFoundError("That version of the secret is no longer kept.")


def _undecryptable() -> UndecryptableError:
    return UndecryptableError(
        "This secret cannot be decrypted with the configured key. An operator must add the "
        "key that encrypted it; the other secrets are not affected."
    )
