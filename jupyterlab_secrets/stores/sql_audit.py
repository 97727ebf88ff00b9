"""The SQL store's audit log: events in the ``audit_events`` table, append-only, each chained to
the one before it.

- ``mac`` = HMAC-SHA256 (``cryptography``) over the event's fields and ``prev_mac``, the MAC of
  the event before it, under a key derived with HKDF from the master key whose id the event
  records (``key_id``). Altering an event, removing one or reordering them breaks the chain,
  and `SqlAuditLog.verify` names the first event where it breaks.
- Key rotation: each event names the master key it was chained under. After ``rotate-key``,
  `SqlAuditLog.rechain` checks the whole chain with the keys given, then chains it again
  under the new primary key, so the log stays verifiable once the old key is dropped.
- Retention: `SqlAuditLog.prune` deletes the oldest events and records a ``prune`` event
  holding their count and the MAC of the last one deleted (the anchor): the first kept event
  must chain to an anchor of a recorded prune, so pruning is not mistaken for tampering, and
  a removal beyond it is not mistaken for pruning.

What a chain cannot show: the newest events deleted all together (nothing comes after them to
notice). Ship the log elsewhere, or compare `SqlAuditLog.head` with a copy kept out of reach,
if that matters.
"""

from __future__ import annotations

import datetime as dt
import hmac as _std_hmac
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from sqlalchemy import Engine, delete, func, or_, select, text, update

from ..audit import ACTIONS, AuditEntry, AuditEvent, AuditLog, Verification
from ..crypto import Keyring
from .base import utc_now
from .sql_schema import UTC, AuditEventRow

__all__ = ["SqlAuditLog"]

_PURPOSE = b"jupyterlab-secrets:audit-log:v1"
"""The HKDF ``info`` of the audit key: independent of every other use of the master key."""
_GENESIS = ""
"""The ``prev_mac`` of the first event ever recorded."""
_BATCH = 500


def _canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes an event's MAC covers: every field but the MAC, in a fixed order."""
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


class SqlAuditLog(AuditLog):
    """The audit log in the SQL store's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring
        self._keys: dict[str, bytes] = {}

    def _key(self, key_id: str) -> bytes:
        if key_id not in self._keys:
            self._keys[key_id] = self.keyring.derive(_PURPOSE, key_id)
        return self._keys[key_id]

    def _mac(self, row: Mapping[str, Any]) -> str:
        signer = crypto_hmac.HMAC(self._key(row["key_id"]), hashes.SHA256())
        signer.update(_canonical(row))
        return signer.finalize().hex()

    def _lock(self, connection: Any) -> None:
        """Serialize appends, so each chains to the one committed before it (SQLite writers
        already queue behind ``BEGIN IMMEDIATE``)."""
        if connection.dialect.name == "postgresql":
            connection.execute(text("LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE"))

    def _append(self, connection: Any, entry: AuditEntry) -> AuditEvent:
        if entry.action not in ACTIONS:
            raise ValueError(f"unknown audit action {entry.action!r}")
        self._lock(connection)
        last = connection.execute(
            select(AuditEventRow.mac).order_by(AuditEventRow.seq.desc()).limit(1)
        ).scalar()
        row = {
            "id": uuid.uuid4().hex,
            "at": utc_now(),
            "user": entry.user,
            "project": entry.project,
            "server_project": entry.server_project,
            "action": entry.action,
            "secret_id": entry.secret_id,
            "secret_name": entry.secret_name,
            "detail": json.dumps(dict(entry.detail or {}), sort_keys=True),
            "key_id": self.keyring.primary_key_id,
            "prev_mac": last if last is not None else _GENESIS,
        }
        row["mac"] = self._mac(row)
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
        """Up to ``limit`` events of ``project``, newest first (see `AuditLog.events`)."""
        table = AuditEventRow.__table__
        query = select(table).where(
            or_(AuditEventRow.project == project, AuditEventRow.server_project == project)
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

    def _rows(self, connection: Any) -> Iterator[Mapping[str, Any]]:
        rows = connection.execute(
            select(AuditEventRow.__table__).order_by(AuditEventRow.seq)
        ).yield_per(_BATCH)
        for row in rows:
            yield row._mapping

    def verify(self) -> Verification:
        """Check every event's MAC and its link to the event before it, oldest first."""
        with self.engine.connect() as connection:
            rows = list(self._rows(connection))
        # The MACs the first kept event may chain to: nothing, or the last event of a tail
        # that a recorded (and itself authentic) prune removed.
        anchors = {_GENESIS}
        for row in rows:
            if row["action"] == "prune":
                anchors.add(str(json.loads(row["detail"]).get("anchor", "")))
        previous: str | None = None
        for checked, row in enumerate(rows):
            if row["key_id"] not in self.keyring.key_ids:
                return Verification(
                    checked, row["id"], f"it was chained under key {row['key_id']}, not given"
                )
            if not _std_hmac.compare_digest(self._mac(row), row["mac"]):
                return Verification(checked, row["id"], "it was altered")
            if previous is None:
                linked = row["prev_mac"] in anchors
            else:
                linked = row["prev_mac"] == previous
            if not linked:
                return Verification(
                    checked, row["id"], "an event before it was removed, or events were reordered"
                )
            previous = row["mac"]
        return Verification(len(rows))

    def head(self) -> str | None:
        """The MAC of the newest event: keep a copy elsewhere to notice the newest events
        removed all together."""
        with self.engine.connect() as connection:
            return connection.execute(
                select(AuditEventRow.mac).order_by(AuditEventRow.seq.desc()).limit(1)
            ).scalar()

    def prune(self, older_than: dt.datetime, *, user: str, server_project: str) -> int:
        """Delete the events recorded before ``older_than`` (the oldest ones, contiguously),
        and record a ``prune`` event with their count and the MAC of the last one (the anchor
        the first kept event chains to)."""
        with self.engine.begin() as connection:
            self._lock(connection)
            last = connection.execute(
                select(func.max(AuditEventRow.seq)).where(AuditEventRow.at < older_than)
            ).scalar()
            if last is None:
                return 0
            anchor = connection.execute(
                select(AuditEventRow.mac).where(AuditEventRow.seq == last)
            ).scalar_one()
            count = connection.execute(
                delete(AuditEventRow).where(AuditEventRow.seq <= last)
            ).rowcount
            self._append(
                connection,
                AuditEntry(
                    user=user,
                    project=server_project,
                    server_project=server_project,
                    action="prune",
                    detail={
                        "count": count,
                        "older_than": older_than.astimezone(UTC).isoformat(),
                        "anchor": anchor,
                    },
                ),
            )
            return count

    def rechain(self) -> int:
        """Chain every event again under the primary key, after checking the chain with the
        keys given (`ValueError` naming the first bad event otherwise): ``rotate-key`` calls
        it, so the log needs only the new key from then on. The first event's link to a
        pruned tail (an anchor) stays as recorded: the tail is gone."""
        checked = self.verify()
        if not checked.ok:
            raise ValueError(f"audit event {checked.bad_event}: {checked.reason}")
        primary = self.keyring.primary_key_id
        with self.engine.begin() as connection:
            self._lock(connection)
            rows = [dict(row) for row in self._rows(connection)]
            previous: str | None = None
            changed = 0
            for row in rows:
                if previous is not None:
                    row["prev_mac"] = previous
                row["key_id"] = primary
                mac = self._mac(row)
                connection.execute(
                    update(AuditEventRow)
                    .where(AuditEventRow.seq == row["seq"])
                    .values(key_id=primary, prev_mac=row["prev_mac"], mac=mac)
                )
                previous = mac
                changed += 1
            return changed
