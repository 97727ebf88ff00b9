"""The SQL store's audit log: events in the ``audit_events`` table, append-only, in a chain that
anyone can check and only the operator can vouch for.

- ``hash`` = SHA-256 over the event's fields and ``prev_hash``, the hash of the event before it
  (`event_hash`). There is no key: a server appends events, and so could anyone with the
  database, who could also compute the chain again after changing it. The chain alone shows
  an edit made by hand, a removal or a reordering, not a careful rewrite.
- Signed events (``anchor`` and ``prune``) are recorded only by the operator's command, with an
  Ed25519 signature (``audit_keys.py``) over their own fields, ``prev_hash`` included. Any
  change to an event before a signed event changes the hash that event names, and no server
  holds the key to sign again: rewriting anchored history is found, with the master key and the
  database alike.
- What a signature cannot show is the newest events removed all together, the signed ones
  with them. So the operator's command keeps the newest signed event out of the database's
  reach (`Anchor`, the anchor file): `SqlAuditLog.verify` wants the log to still hold it, unless
  a signed prune removed it.
- Retention is the operator's too (`SqlAuditLog.prune`): the oldest events are deleted and a
  signed ``prune`` records their count and the hash of the last one deleted, the only place
  where the first kept event may chain to other than the first event ever.
- Events recorded before schema revision 0005 carry an HMAC chain under a key derived from the
  master key (``key_id``, ``prev_mac``, ``mac``). The revision chained them by hash too and
  recorded a ``hash-chain`` event; `SqlAuditLog.verify` still checks their MACs with the master
  keys it is given.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac as _std_hmac
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import Engine, delete, func, or_, select, text

from ..audit import (
    ACTIONS,
    LOG_ACTIONS,
    SIGNED_ACTIONS,
    Anchor,
    AuditEntry,
    AuditEvent,
    AuditLog,
    LogDoesNotVerify,
    Pruned,
    SignatureCheck,
    Signer,
    Verification,
)
from ..crypto import Keyring
from .base import utc_now
from .sql_schema import UTC, AuditEventRow

__all__ = ["GENESIS", "SqlAuditLog", "event_hash"]

GENESIS = ""
"""The ``prev_hash`` of the first event ever recorded."""
_SIGNED = b"jupyterlab-secrets:audit-signature:v2\0"
"""What a signed message starts with: an operator's signature means nothing elsewhere."""
_LEGACY_PURPOSE = b"jupyterlab-secrets:audit-log:v1"
"""The HKDF ``info`` of the MAC key of events recorded before revision 0005."""
_BATCH = 500
_CHANGED = (
    "the log changed while it was checked (another operator anchoring or pruning?): run the "
    "command again"
)


def _canonical(row: Mapping[str, Any], detail: str | None = None) -> bytes:
    """The bytes an event's hash covers: every field but the hash, in a fixed order (with
    ``detail`` in place of the event's own, for the message a signature covers)."""
    at: dt.datetime = row["at"]
    fields = [
        "v2",
        row["id"],
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        row["user"],
        row["project"],
        row["server_project"],
        row["action"],
        row["secret_id"],
        row["secret_name"],
        row["detail"] if detail is None else detail,
        row["key_id"],
        row["prev_mac"],
        row["mac"],
        row["prev_hash"],
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def event_hash(row: Mapping[str, Any]) -> str:
    """The SHA-256 of an event (hex): what the next event names as its ``prev_hash``. Its
    format is fixed: revision 0005 computed it for the events recorded before it."""
    return hashlib.sha256(_canonical(row)).hexdigest()


def _detail_json(detail: Mapping[str, Any]) -> str:
    return json.dumps(dict(detail), sort_keys=True)


def _signed_message(row: Mapping[str, Any]) -> bytes:
    """What the operator signs: the event as its hash covers it, but for the signature."""
    detail = json.loads(row["detail"])
    detail.pop("signature", None)
    return _SIGNED + _canonical(row, _detail_json(detail))


def _legacy_canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a MAC of an event recorded before revision 0005 covers."""
    at: dt.datetime = row["at"]
    fields = [
        "v1",
        row["id"],
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        row["user"],
        row["project"],
        row["server_project"],
        row["action"],
        row["secret_id"],
        row["secret_name"],
        row["detail"],
        row["key_id"],
        row["prev_mac"],
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()


def _event(row: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        project=row["project"],
        server_project=row["server_project"],
        action=row["action"],
        secret_id=row["secret_id"],
        secret_name=row["secret_name"],
        detail=json.loads(row["detail"]),
    )


def _operator_entry(
    action: str, detail: Mapping[str, Any], user: str, server_project: str
) -> AuditEntry:
    """A signed event of the operator's: it concerns no one secret, so its project is that of
    the command that records it."""
    return AuditEntry(
        user=user,
        project=server_project,
        server_project=server_project,
        action=action,
        detail=detail,
    )


class SqlAuditLog(AuditLog):
    """The audit log in the SQL store's database (SQLite or PostgreSQL). Its ``keyring``
    (the master keys) serves only to check the MACs of events recorded before revision 0005."""

    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring
        self._keys: dict[str, bytes] = {}

    def _legacy_mac(self, row: Mapping[str, Any]) -> str:
        key_id = row["key_id"]
        if key_id not in self._keys:
            self._keys[key_id] = self.keyring.derive(_LEGACY_PURPOSE, key_id)
        signer = crypto_hmac.HMAC(self._keys[key_id], hashes.SHA256())
        signer.update(_legacy_canonical(row))
        return signer.finalize().hex()

    def _lock(self, connection: Any) -> None:
        """Serialize appends, so each chains to the one committed before it (SQLite writers
        already queue behind ``BEGIN IMMEDIATE``)."""
        if connection.dialect.name == "postgresql":
            connection.execute(text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE"))

    def _append(
        self, connection: Any, entry: AuditEntry, signer: Signer | None = None
    ) -> AuditEvent:
        if entry.action not in ACTIONS:
            raise ValueError(f"unknown audit action {entry.action!r}")
        signed = entry.action in SIGNED_ACTIONS
        if entry.action in LOG_ACTIONS - SIGNED_ACTIONS or (signer is not None) != signed:
            raise ValueError(f"the audit action {entry.action!r} is the log's own")
        self._lock(connection)
        last = connection.execute(
            select(AuditEventRow.hash).order_by(AuditEventRow.seq.desc()).limit(1)
        ).scalar()
        detail = dict(entry.detail or {})
        row = {
            "id": uuid.uuid4().hex,
            "at": utc_now(),
            "user": entry.user,
            "project": entry.project,
            "server_project": entry.server_project,
            "action": entry.action,
            "secret_id": entry.secret_id,
            "secret_name": entry.secret_name,
            "detail": _detail_json(detail),
            "key_id": None,
            "prev_mac": None,
            "mac": None,
            "prev_hash": last if last is not None else GENESIS,
        }
        if signer is not None:
            detail["key"] = signer.key
            row["detail"] = _detail_json(detail)
            detail["signature"] = signer.sign(_signed_message(row))
            row["detail"] = _detail_json(detail)
        row["hash"] = event_hash(row)
        connection.execute(AuditEventRow.__table__.insert().values(**row))
        return _event(row)

    def append(self, entry: AuditEntry) -> AuditEvent:
        """Record one event now, chained to the last one."""
        with self.engine.begin() as connection:
            return self._append(connection, entry)

    def append_in(self, connection: Any, entries: Iterable[AuditEntry]) -> None:
        """Record events in the caller's transaction (a store's write): they commit with it,
        or not at all. The chain's lock is taken last, after the write's own locks."""
        for entry in entries:
            self._append(connection, entry)

    def events(
        self,
        project: str,
        secret_id: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events of ``project``, newest first (see `AuditLog.events`), and
        the log's own (anchors, prunes, its upgrade), which concern every project."""
        table = AuditEventRow.__table__
        query = select(table).where(
            or_(
                AuditEventRow.project == project,
                AuditEventRow.server_project == project,
                AuditEventRow.action.in_(sorted(LOG_ACTIONS)),
            )
        )
        if secret_id is not None:
            query = query.where(AuditEventRow.secret_id == secret_id)
        with self.engine.connect() as connection:
            if before is not None:
                seq = connection.execute(
                    select(AuditEventRow.seq).where(AuditEventRow.id == before)
                ).scalar()
                if seq is None:
                    raise KeyError(before)
                query = query.where(AuditEventRow.seq < seq)
            rows = connection.execute(query.order_by(AuditEventRow.seq.desc()).limit(limit))
            return [_event(row._mapping) for row in rows]

    def _rows(self, connection: Any, from_seq: int | None = None) -> Iterator[Mapping[str, Any]]:
        query = select(AuditEventRow.__table__).order_by(AuditEventRow.seq)
        if from_seq is not None:
            query = query.where(AuditEventRow.seq >= from_seq)
        for row in connection.execute(query).yield_per(_BATCH):
            yield row._mapping

    # -- checking ----------------------------------------------------------------------

    @staticmethod
    def _signature(row: Mapping[str, Any], check: SignatureCheck | None) -> str | None:
        """Why a signed event's signature does not hold (None: it does)."""
        detail = json.loads(row["detail"])
        key, signature = detail.get("key"), detail.get("signature")
        if not isinstance(key, str) or not isinstance(signature, str):
            return f"a {row['action']} must be signed by the operator, and it is not"
        if check is None:
            return (
                f"it is signed by the key {key}, and no public key was given to check it: set "
                "SecretsExtension.audit_public_keys"
            )
        return check.check(key, _signed_message(row), signature)

    def verify(
        self, check: SignatureCheck | None = None, anchor: Anchor | None = None
    ) -> Verification:
        """Check every event's hash and link, every signed event's signature, the MACs of the
        events from before revision 0005 (with the master keys given), and that the log
        still holds ``anchor`` (or a signed prune removed it); oldest first."""
        with self.engine.connect() as connection:
            rows = list(self._rows(connection))
        return self._verify(rows, check, anchor)

    def _verify(  # noqa: C901  (one pass over the log, each check in turn)
        self,
        rows: Sequence[Mapping[str, Any]],
        check: SignatureCheck | None,
        anchor: Anchor | None,
    ) -> Verification:
        # Where the first kept event may chain to: nothing, or the last event of a tail that
        # a prune removed. A prune whose signature does not hold is named at its own place
        # (which says more than naming the first event), and covers no anchor.
        refused: dict[str, str] = {}
        cuts, legacy_cuts, pruned_through = {GENESIS}, {GENESIS}, -1
        for row in rows:
            if row["mac"] is not None:
                if row["action"] == "prune":  # a retention of the MAC-chained log
                    legacy_cuts.add(str(json.loads(row["detail"]).get("anchor", "")))
                continue
            if row["action"] not in SIGNED_ACTIONS:
                continue
            reason = self._signature(row, check)
            if reason is not None:
                refused[row["id"]] = reason
            if row["action"] == "prune":
                detail = json.loads(row["detail"])
                cuts.add(str(detail.get("last_hash")))
                legacy_cuts.add(str(detail.get("last_mac")))
                if reason is None:
                    pruned_through = max(pruned_through, int(detail.get("last_seq", -1)))

        previous: str | None = None
        previous_mac: str | None = None
        legacy = unchecked = signed = tail = 0
        chained_by_hash = False
        last_signed: Mapping[str, Any] | None = None

        def broken(checked: int, event: str, reason: str) -> Verification:
            return Verification(checked, event, reason, anchor=anchor)

        for checked, row in enumerate(rows):
            if not _std_hmac.compare_digest(event_hash(row), row["hash"]):
                return broken(checked, row["id"], "it was altered")
            if previous is None:
                linked = row["prev_hash"] in cuts
            else:
                linked = row["prev_hash"] == previous
            if not linked:
                return broken(
                    checked, row["id"], "an event before it was removed, or events were reordered"
                )
            previous = row["hash"]
            if row["mac"] is not None and chained_by_hash:
                # Whoever holds the master key could still compute a MAC; only the events
                # recorded before the switch to the hash chain may carry one.
                return broken(
                    checked,
                    row["id"],
                    "it carries a master-key MAC, which no event after the switch to the hash "
                    "chain may",
                )
            chained_by_hash = chained_by_hash or row["mac"] is None
            if row["mac"] is not None:
                legacy += 1
                if row["key_id"] not in self.keyring.key_ids:
                    unchecked += 1
                elif not _std_hmac.compare_digest(self._legacy_mac(row), row["mac"]):
                    return broken(checked, row["id"], "it was altered (its master-key MAC)")
                if row["prev_mac"] != previous_mac and not (
                    previous_mac is None and row["prev_mac"] in legacy_cuts
                ):
                    return broken(
                        checked,
                        row["id"],
                        "an event before it was removed, or events were reordered (its "
                        "master-key MAC chain)",
                    )
                previous_mac = row["mac"]
            if row["id"] in refused:
                return broken(checked, row["id"], refused[row["id"]])
            if row["mac"] is None and row["action"] in SIGNED_ACTIONS:
                signed, last_signed, tail = signed + 1, row, 0
            else:
                tail += 1
        if anchor is not None:
            kept = next((row for row in rows if row["id"] == anchor.id), None)
            if kept is None and anchor.seq > pruned_through:
                return broken(
                    len(rows),
                    anchor.id,
                    f"the operator anchored the log at this event ({anchor.at}), and it is "
                    "gone: the newest events were removed",
                )
            if kept is not None and kept["hash"] != anchor.hash:
                return broken(
                    len(rows), anchor.id, "it is not the event the operator anchored the log at"
                )
        return Verification(
            len(rows),
            signed=signed,
            last_signed=_event(last_signed) if last_signed is not None else None,
            unsigned_tail=tail,
            legacy=legacy,
            legacy_unchecked=unchecked,
            anchor=anchor,
            head=(rows[-1]["seq"], rows[-1]["hash"]) if rows else None,
        )

    def _still(self, connection: Any, verified: Verification) -> None:
        """Under the chain's lock: the log still holds the head that was verified, and what
        was appended since chains to it; else `LogDoesNotVerify` (nothing is written)."""
        if verified.head is None:
            rows = list(self._rows(connection))
            previous = GENESIS
        else:
            seq, head = verified.head
            rows = list(self._rows(connection, from_seq=seq))
            if not rows or rows[0]["seq"] != seq or event_hash(rows[0]) != head:
                gone = rows[0]["id"] if rows else f"at position {seq}"
                raise LogDoesNotVerify(Verification(0, gone, _CHANGED))
            previous, rows = head, rows[1:]
        for row in rows:
            if event_hash(row) != row["hash"] or row["prev_hash"] != previous:
                raise LogDoesNotVerify(Verification(0, row["id"], _CHANGED))
            if row["action"] in LOG_ACTIONS:
                raise LogDoesNotVerify(Verification(0, row["id"], _CHANGED))
            previous = row["hash"]

    # -- the operator's ------------------------------------------------------------------

    @contextmanager
    def _verified(self, check: SignatureCheck, anchor: Anchor | None) -> Iterator[Any]:
        """A transaction under the chain's lock, on a log that verifies and is still as
        verified; `LogDoesNotVerify` (and nothing written) otherwise. The whole log is checked
        before the lock is taken, so servers never wait on it; under the lock, only what they
        appended meanwhile."""
        verified = self.verify(check, anchor)
        if not verified.ok:
            raise LogDoesNotVerify(verified)
        with self.engine.begin() as connection:
            self._lock(connection)
            self._still(connection, verified)
            yield connection

    def sign(
        self,
        signer: Signer,
        check: SignatureCheck,
        anchor: Anchor | None = None,
        *,
        user: str,
        server_project: str,
    ) -> AuditEvent:
        """Verify the log, then record an ``anchor`` signed by ``signer`` (see `AuditLog.sign`)."""
        with self._verified(check, anchor) as connection:
            count = connection.execute(select(func.count()).select_from(AuditEventRow)).scalar()
            entry = _operator_entry("anchor", {"events": count}, user, server_project)
            return self._append(connection, entry, signer)

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
        """Verify the log, then delete the events recorded before ``older_than`` (the oldest
        ones, contiguously) and record a signed ``prune`` with their count, and the position
        and hash of the last one (where the first kept event chains to)."""
        with self._verified(check, anchor) as connection:
            last = connection.execute(
                select(func.max(AuditEventRow.seq)).where(AuditEventRow.at < older_than)
            ).scalar()
            if last is None:
                return Pruned(0, None)
            cut = connection.execute(
                select(AuditEventRow.id, AuditEventRow.hash, AuditEventRow.mac).where(
                    AuditEventRow.seq == last
                )
            ).one()
            count = connection.execute(
                delete(AuditEventRow).where(AuditEventRow.seq <= last)
            ).rowcount
            detail: dict[str, Any] = {
                "count": count,
                "older_than": older_than.astimezone(UTC).isoformat(),
                "last_seq": last,
                "last_id": cut.id,
                "last_hash": cut.hash,
            }
            if cut.mac is not None:
                detail["last_mac"] = cut.mac
            entry = _operator_entry("prune", detail, user, server_project)
            return Pruned(count, self._append(connection, entry, signer))

    def newest_signed(self, event: AuditEvent) -> Anchor:
        """The `Anchor` of a signed event just recorded, for the operator to keep."""
        with self.engine.connect() as connection:
            row = connection.execute(
                select(AuditEventRow.seq, AuditEventRow.hash).where(AuditEventRow.id == event.id)
            ).one()
        return Anchor(
            id=event.id,
            seq=row.seq,
            hash=row.hash,
            at=event.at.astimezone(UTC).isoformat(timespec="seconds"),
        )
