"""The audit log's interface: who did what to which secret, and when; never a value.

`AuditLog` is a small interface beside the store's: a store that keeps a log offers one
(`SecretStore.audit_log`), and a store that keeps no log of its own offers none. This module
holds the interface and its types only, and imports nothing else of the package: the store
interface hands `AuditEntry` values to it, the SQL store's log (``stores/sql_audit.py``) and
the OpenBao store's (``stores/openbao/audit.py``) implement it, and the operator's signatures
(``audit_keys.py``) implement `Signer` and `SignatureCheck`.

Servers append events. On SQL only an operator, with a key no server holds, signs: a signed
event (``anchor``, ``prune``) fixes everything recorded before it, and changing, removing or
reordering an earlier event then breaks its signature, whoever holds the database and the
master key. On OpenBao no server can change or delete an event at all (its policies), and
nothing is signed (`AuditLog.append_only`).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ACTIONS",
    "LOG_ACTIONS",
    "SIGNED_ACTIONS",
    "Anchor",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "LogDoesNotVerify",
    "Pruned",
    "SignatureCheck",
    "Signer",
    "Verification",
]

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
        "anchor",
        "hash-chain",
    }
)
"""Every action an event may record: those of the REST API and the command line (``scan`` is
the command's reading of the values it looks for), and the
log's own (`LOG_ACTIONS`)."""

SIGNED_ACTIONS = frozenset({"anchor", "prune"})
"""What only an operator records, signed with the audit key: ``anchor`` (the log as it stands
is fixed) and ``prune`` (the oldest events were removed, and which)."""

LOG_ACTIONS = SIGNED_ACTIONS | {"hash-chain"}
"""The log's own actions, which `AuditLog.append` refuses: the signed ones, and ``hash-chain``
(the schema upgrade from master-key MACs to a SHA-256 chain, recorded once)."""


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


class Signer(Protocol):
    """The operator's audit key, able to sign (``audit_keys.py``); no server holds one."""

    @property
    def key(self) -> str:
        """The public key's fingerprint, recorded beside each signature."""

    def sign(self, message: bytes) -> str:
        """The signature of ``message``, as text."""


class SignatureCheck(Protocol):
    """The operator's public keys: whether a signature is theirs."""

    def check(self, key: str, message: bytes, signature: str) -> str | None:
        """None when ``signature`` is a valid signature of ``message`` by the key of
        fingerprint ``key`` (one of those trusted); otherwise why not."""


@dataclass(frozen=True)
class Anchor:
    """The newest signed event, as the operator keeps it out of the database's reach (the
    anchor file): the log must still hold it, unless a signed prune removed it."""

    id: str
    seq: int
    hash: str
    at: str


@dataclass(frozen=True)
class Verification:
    """The outcome of `AuditLog.verify`: how many events were checked, the first bad one, and
    how much of the log the operator's signatures cover."""

    checked: int
    bad_event: str | None = None
    """The ID of the first event where the log breaks (None: it holds)."""
    reason: str | None = None
    signed: int = 0
    """How many events are signed by the operator (anchors and prunes), each checked."""
    last_signed: AuditEvent | None = None
    """The newest of them: everything before it is fixed."""
    unsigned_tail: int = 0
    """How many events came after it: someone with the database could still drop or change
    them unnoticed, until the next anchor."""
    legacy: int = 0
    """Events recorded before the log became a SHA-256 chain, each with its master-key MAC."""
    legacy_unchecked: int = 0
    """Of those, how many whose MAC could not be checked: their master key was not given."""
    anchor: Anchor | None = None
    """The operator's anchor that was checked, if any."""
    head: tuple[int, str] | None = None
    """The position and hash of the newest event, as checked."""

    @property
    def ok(self) -> bool:
        """Whether every event is as recorded."""
        return self.bad_event is None


@dataclass(frozen=True)
class Pruned:
    """What `AuditLog.prune` did: how many events it removed, and its signed event."""

    count: int
    event: AuditEvent | None


class LogDoesNotVerify(Exception):
    """Anchoring or pruning was refused: the log does not verify, and signing it would vouch
    for what someone changed. Nothing was written."""

    def __init__(self, verification: Verification) -> None:
        super().__init__(f"audit event {verification.bad_event}: {verification.reason}")
        self.verification = verification


class AuditLog(ABC):
    """An append-only record of actions on secrets."""

    append_only: str | None = None
    """None when the operator's signatures vouch for the log (`sign`, `prune`); otherwise
    the store itself keeps every server from changing or deleting an event (OpenBao's
    policies), and this says so, and how old events are removed: `sign` and `prune` refuse
    with it, and the operator's command says it instead of asking for the audit key."""

    @abstractmethod
    def append(self, entry: AuditEntry) -> AuditEvent:
        """Record one event now (not one of `LOG_ACTIONS`: `ValueError`)."""

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
    def verify(
        self, check: SignatureCheck | None = None, anchor: Anchor | None = None
    ) -> Verification:
        """Check that no event was altered, removed or reordered; that every signed event is
        signed by a key ``check`` trusts (a signed event and no ``check`` is a failure); and
        that the log still holds ``anchor``, or a signed prune removed it."""

    @abstractmethod
    def sign(
        self,
        signer: Signer,
        check: SignatureCheck,
        anchor: Anchor | None = None,
        *,
        user: str,
        server_project: str,
    ) -> AuditEvent:
        """Verify the log, then record an ``anchor`` event signed by ``signer``, which fixes
        every event before it; `LogDoesNotVerify` (and nothing written) if it does not."""

    @abstractmethod
    def prune(
        self,
        older_than: dt.datetime,
        signer: Signer,
        check: SignatureCheck,
        anchor: Anchor | None = None,
        *,
        user: str,
        server_project: str,
    ) -> Pruned:
        """Verify the log, then delete the events recorded before ``older_than`` and record a
        signed ``prune`` event saying which; `LogDoesNotVerify` (and nothing deleted) if it
        does not verify."""
