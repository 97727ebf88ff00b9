"""The store interface: what the service needs of a backend, in the service's own terms.

A store keeps secrets, their values (encrypted at rest, however the backend does it), their
earlier versions, their shares with communities and the projects they were added to. It does
not know the rules: the service decides who may do what and calls the store to do it. Every
backend (SQL, OpenBao) passes the same contract suite, ``tests/store_contract.py``.

All methods are synchronous and thread-safe: the service calls them off the event loop. Every
read and write is made *as seen from* a `View` (a project and the communities it belongs to),
so a backend whose own policies decide (OpenBao) knows which paths to use, and a backend that
holds everything (SQL) filters by it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traitlets import MetaHasTraits
from traitlets.config import LoggingConfigurable

if TYPE_CHECKING:  # the audit module imports the SQL schema, which imports nothing of ours
    from ..audit import AuditLog

SECRET_ID_PATTERN = r"[0-9a-f]{32}"
"""The format of every secret ID, matched whole: 32 lowercase hex digits (a UUID's). Every
store makes IDs of this form; routes and the service refuse anything else before a store sees
it."""


@dataclass(frozen=True)
class View:
    """Who is asking: a project, and the communities it belongs to (sorted)."""

    project: str
    communities: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditEntry:
    """An event of the audit log, as a write hands it to its store. Never a value."""

    user: str
    project: str
    server_project: str
    action: str
    secret_id: str | None = None
    secret_name: str | None = None
    detail: Mapping[str, Any] | None = None


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
store with an audit log of its own (`SecretStore.audit_log`) appends these in the write's own
transaction, so that a write and its events are kept, or lost, together; one without (OpenBao,
whose audit device records every request) ignores it."""


@dataclass(frozen=True)
class VersionInfo:
    """One kept version of a secret's value. Never the value."""

    version: int
    updated_at: dt.datetime
    updated_by: str
    current: bool


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
    def read_values(self, view: View, secret_ids: Iterable[str]) -> Mapping[str, str | None]:
        """The current values of these visible secrets, by ID; None for one that cannot be
        decrypted (the others are still answered). An ID the view cannot see is left out."""

    @abstractmethod
    def change_marker(self, view: View) -> str:
        """A short string that changes whenever anything the view sees changes (a secret,
        its value, its shares, the view's attachments). Costs O(1) in the number of secrets:
        it is read on every poll."""

    def audit_log(self) -> AuditLog | None:
        """The audit log this store keeps, or None when the store keeps its own record
        elsewhere (OpenBao's audit device)."""
        return None

    def community_admin(self, view: View, community: str) -> bool | None:
        """Whether the backend's own policy lets the view share with ``community``: True or
        False when the backend decides (OpenBao: the token's capabilities), None when it
        leaves that to the configuration (SQL)."""
        return None

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
