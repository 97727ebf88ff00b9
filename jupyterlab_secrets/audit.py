"""The audit log's interface: who did what to which secret, and when; never a value.

`AuditLog` is a small interface beside the store's: a store that keeps a log offers one
(`SecretStore.audit_log`), and a store that keeps its own record elsewhere (OpenBao's audit
device) offers none. This module holds the interface and its types only, and imports nothing
else of the package: the store interface hands `AuditEntry` values to it, and the SQL store's
log (``stores/sql_audit.py``) implements it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTIONS", "AuditEntry", "AuditEvent", "AuditLog", "Verification"]

ACTIONS = frozenset(
    {
        "create",
        "update",
        "delete",
        "copy",
        "reveal",
        "environment",
        "share",
        "unshare",
        "attach",
        "detach",
        "restore",
        "rotate-key",
        "import",
        "run",
        "scan",
        "prune",
    }
)
"""Every action an event may record: those of the REST API and the command line (``scan`` is
the command's reading of the values it looks for), and ``prune`` (the log's own retention)."""


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
class AuditEvent:
    """One recorded action. ``detail`` holds names, counts and versions, never a value."""

    id: str
    at: dt.datetime
    user: str
    project: str
    """The project of the secret (for an event of no one secret, the server's)."""
    server_project: str
    """The project of the server or command that recorded it."""
    action: str
    secret_id: str | None
    secret_name: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Verification:
    """The outcome of `AuditLog.verify`: how many events were checked, and the first bad one."""

    checked: int
    bad_event: str | None = None
    """The ID of the first event where the chain breaks (None: the chain holds)."""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every event is as recorded."""
        return self.bad_event is None


class AuditLog(ABC):
    """An append-only record of actions on secrets."""

    @abstractmethod
    def append(self, entry: AuditEntry) -> AuditEvent:
        """Record one event now."""

    @abstractmethod
    def events(
        self,
        project: str,
        secret_id: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events of ``project`` (of its secrets, or recorded by its server),
        newest first; only those of ``secret_id`` if given; only those older than the event
        ``before`` if given (`KeyError` if there is no such event)."""

    @abstractmethod
    def verify(self) -> Verification:
        """Check that no event was altered, removed or reordered."""

    @abstractmethod
    def prune(self, older_than: dt.datetime, *, user: str, server_project: str) -> int:
        """Delete the events recorded before ``older_than``; record the pruning if any was."""
