"""The store interface: what the service needs of a backend, in the service's own terms.

A store keeps secrets, their values (encrypted at rest, however the backend does it), their
earlier versions, their shares with communities and the projects they were added to. It does
not know the rules: the service decides who may do what and calls the store to do it. Every
backend (SQL, OpenBao) passes the same contract suite, ``tests/store_contract.py``.

All methods are synchronous and thread-safe: the service calls them off the event loop. Every
read and write is made *as seen from* a `View` (a project and the communities it belongs to),
so a backend whose own policies decide (OpenBao) knows which paths to use, and a backend that
holds everything (SQL) filters by it.

What only some backends can do (check or rotate the master keys, decide sharing by their own
policy, import secrets from another store) are optional abilities: small protocols that a
caller asks a store for with `SecretStore.ability`, never by the store's class.
"""

from __future__ import annotations

import datetime as dt
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar, runtime_checkable

from traitlets import MetaHasTraits
from traitlets.config import LoggingConfigurable

from ..audit import AuditEntry, AuditLog

__all__ = [
    "SECRET_ID_PATTERN",
    "AuditEntry",
    "KeyCheck",
    "KeyRotation",
    "Recorder",
    "Rotation",
    "SecretImport",
    "SecretStore",
    "SharingPolicy",
    "StoredSecret",
    "ValueCache",
    "VersionInfo",
    "View",
    "utc_now",
]

SECRET_ID_PATTERN = r"[0-9a-f]{32}"
"""The format of every secret ID, matched whole: 32 lowercase hex digits (a UUID's). Every
store makes IDs of this form; routes and the service refuse anything else before a store sees
it."""


def utc_now() -> dt.datetime:
    """The time now, timezone-aware in UTC: what every store stamps a change with."""
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class View:
    """Who is asking: a project, and the communities it belongs to (sorted)."""

    project: str
    communities: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredSecret:
    """A secret's metadata as the store keeps it, seen from one `View`. Never a value."""

    id: str
    project: str
    """The project that owns the secret."""
    name: str
    version: int
    """Starts at 1 and grows by one with every change of name or value."""
    created_by: str
    created_at: dt.datetime
    """Timezone-aware, UTC."""
    updated_at: dt.datetime
    updated_by: str
    value_length: int
    """How many characters the current value has (a ciphertext shows its length anyway):
    values too short to hide in outputs are marked without decrypting them."""
    shared_with: tuple[str, ...] = ()
    """The communities it is shared with, sorted."""
    attached_as: str | None = None
    """For a secret of another project: the name under which the viewing project added it,
    or None when it is not added."""


Recorder = Callable[["StoredSecret"], Sequence[AuditEntry]]
"""What a write records, given the secret as the write leaves it (as it was, for a delete). A
store with an audit log of its own (`SecretStore.audit_log`) appends these: in the write's own
transaction where it has one (SQL), so that a write and its events are kept, or lost,
together; otherwise once the write is made (OpenBao). A store without a log ignores it."""


@dataclass(frozen=True)
class VersionInfo:
    """One kept version of a secret's value. Never the value."""

    version: int
    updated_at: dt.datetime
    updated_by: str
    current: bool


class Rotation(NamedTuple):
    """What a key rotation did: values (current and kept) re-encrypted under the first key,
    and values that already were."""

    changed: int
    kept: int


# -- optional abilities --------------------------------------------------------------------
# A backend has one when it implements its methods; a caller asks `SecretStore.ability`.


@runtime_checkable
class KeyCheck(Protocol):
    """A store encrypted with the server's master keys checks that they open its values."""

    def check_keys(self, view: View) -> None:
        """Decrypt one value under each key that encrypted something ``view`` sees; raise
        `UndecryptableError` when one cannot be (a wrong or missing key)."""


@runtime_checkable
class KeyRotation(Protocol):
    """A store encrypted with the server's master keys re-encrypts under the first one."""

    @property
    def primary_key_id(self) -> str:
        """The id of the key that encrypts new values (never the key)."""

    def rotate(self) -> Rotation:
        """Re-encrypt every value under the first key; `UndecryptableError`, with nothing
        written, when one cannot be decrypted with the keys given."""


@runtime_checkable
class SharingPolicy(Protocol):
    """A store whose own policy decides who may share with a community (OpenBao: the
    token's capabilities), whatever the configuration names as admins."""

    def community_admin(self, view: View, community: str) -> bool:
        """Whether the view may share with ``community`` and stop sharing with it."""


@runtime_checkable
class SecretImport(Protocol):
    """A store that takes secrets copied from another, with their IDs and history."""

    def import_secret(
        self,
        project: str,
        secret: StoredSecret,
        value: str,
        earlier: Callable[[], Sequence[tuple[VersionInfo, str]]] | None = None,
    ) -> bool:
        """Copy ``secret`` of ``project`` with its ID, name, version and times, and the kept
        versions ``earlier()`` gives (oldest first); False when it holds that version
        already."""


@runtime_checkable
class ValueCache(Protocol):
    """A store that keeps in memory the values it read for kernels (OpenBao, where each
    value is one request): reading a project's values before its first kernel asks spares
    that kernel the wait."""

    def warm(self, view: View, secret_ids: Iterable[str]) -> int:
        """Read into memory the values of these visible secrets that are not kept at their
        current version; return how many values are kept for them. No value leaves the
        server, so nothing is recorded in the audit log."""


_Ability = TypeVar("_Ability")


class _AbstractConfigurable(MetaHasTraits, ABCMeta):
    """Lets a configurable class have abstract methods."""


class SecretStore(LoggingConfigurable, metaclass=_AbstractConfigurable):
    """The interface every backend implements.

    Errors are those of `jupyterlab_secrets.errors`: `NotFoundError` for an unknown secret or
    one the view cannot see, `NameTakenError`, `StaleVersionError` (nothing written),
    `ForbiddenError` when the backend's own policy refuses (with its reason),
    `UndecryptableError` for a value that cannot be opened, and `UnavailableError` when the
    backend cannot serve at all.
    """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # -- reads -------------------------------------------------------------------------

    @abstractmethod
    def list(self, view: View) -> list[StoredSecret]:
        """The view's own secrets and those shared with any of its communities, in any order."""

    @abstractmethod
    def get(self, view: View, secret_id: str) -> StoredSecret:
        """One secret the view can see."""

    @abstractmethod
    def read_values(
        self, view: View, secret_ids: Iterable[str], *, cached: bool = False
    ) -> Mapping[str, str | None]:
        """The current values of these visible secrets, by ID; None for one that cannot be
        decrypted (the others are still answered). An ID the view cannot see is left out.

        ``cached``: the values go to kernels, and a store that keeps the values it read in
        memory may answer from there while each one's version is unchanged (OpenBao). A
        reveal or a copy reads anew."""

    @abstractmethod
    def change_marker(self, view: View) -> str:
        """A short string that changes whenever anything the view sees changes (a secret,
        its value, its shares, the view's attachments). Costs O(1) in the number of secrets:
        it is read on every poll."""

    def audit_log(self) -> AuditLog | None:
        """The audit log this store keeps, or None when it keeps none of its own (another
        system records what is done)."""
        return None

    def ability(self, kind: type[_Ability]) -> _Ability | None:
        """This store's optional ability ``kind`` (`KeyCheck`, `KeyRotation`,
        `SharingPolicy`, `SecretImport`, `ValueCache`), or None when it has not got it.

        A store has an ability when it implements that protocol's methods; a backend that
        has one only in some configurations overrides this to answer None then.
        """
        return self if isinstance(self, kind) else None

    # -- writes ------------------------------------------------------------------------

    @abstractmethod
    def create(
        self, view: View, *, name: str, value: str, user: str, record: Recorder | None = None
    ) -> StoredSecret:
        """A new secret of the view's project, at version 1, with a new ID."""

    @abstractmethod
    def update(
        self,
        view: View,
        secret_id: str,
        *,
        expected_version: int,
        user: str,
        name: str | None = None,
        value: str | None = None,
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Check-and-set: change the name and/or value of the view's own secret only if its
        version is still ``expected_version``; the version grows by one. A changed value
        keeps the earlier one as a version (up to the store's ``keep_versions``)."""

    @abstractmethod
    def delete(self, view: View, secret_id: str, record: Recorder | None = None) -> None:
        """Remove the view's own secret with its versions, shares and attachments."""

    @abstractmethod
    def set_shares(
        self,
        view: View,
        secret_id: str,
        *,
        add: Iterable[str],
        remove: Iterable[str],
        detach: Iterable[str] = (),
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Share the view's own secret with the communities ``add`` and stop sharing it with
        ``remove``; in the same step, remove it from the projects ``detach`` (those that
        can no longer see it)."""

    @abstractmethod
    def set_attachment(
        self, view: View, secret_id: str, name: str | None, record: Recorder | None = None
    ) -> StoredSecret:
        """Add a secret shared with the view to the view's project under ``name`` (the name
        it has now), or remove it with None. Both are idempotent."""

    # -- versions ----------------------------------------------------------------------

    @abstractmethod
    def versions(self, view: View, secret_id: str) -> list[VersionInfo]:
        """The kept versions of a visible secret, newest first; the first is current."""

    @abstractmethod
    def read_version(self, view: View, secret_id: str, version: int) -> str:
        """The value a kept version holds; `NotFoundError` when it is no longer kept."""
