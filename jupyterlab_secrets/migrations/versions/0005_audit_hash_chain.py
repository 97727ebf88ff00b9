"""The audit log becomes a SHA-256 chain, which an operator's signatures fix, in place of an
HMAC chain under a key derived from the master key (which every server of a team holds, and
with which anyone holding the database could rewrite the log).

- ``audit_events.prev_hash`` and ``hash``: every existing event is chained by hash too, oldest
  first, its MAC fields included; the hash format is `jupyterlab_secrets.stores.sql_audit.
  event_hash`, fixed since.
- ``key_id``, ``prev_mac`` and ``mac`` stay on the existing events (their MACs still verify
  with the master key) and are empty on new ones.
- When the log held events, a ``hash-chain`` event records the switch: how many events were
  MAC-chained, and the last MAC.

A server of an earlier release still running writes no event any more (it sets no hash, which
is refused), and so refuses its changes rather than make them unrecorded.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-12
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import uuid

import sqlalchemy as sa
from alembic import op

from jupyterlab_secrets.stores.sql_audit import GENESIS, event_hash
from jupyterlab_secrets.stores.sql_schema import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 500

events = sa.table(
    "audit_events",
    sa.column("seq", sa.Integer()),
    sa.column("id", sa.String()),
    sa.column("at", UTCDateTime()),
    sa.column("user", sa.String()),
    sa.column("project", sa.String()),
    sa.column("server_project", sa.String()),
    sa.column("action", sa.String()),
    sa.column("secret_id", sa.String()),
    sa.column("secret_name", sa.String()),
    sa.column("detail", sa.Text()),
    sa.column("key_id", sa.String()),
    sa.column("prev_mac", sa.String()),
    sa.column("mac", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
        batch.alter_column("key_id", existing_type=sa.String(16), nullable=True)
        batch.alter_column("prev_mac", existing_type=sa.String(64), nullable=True)
        batch.alter_column("mac", existing_type=sa.String(64), nullable=True)
    connection = op.get_bind()
    previous = GENESIS
    count = 0
    last: dict[str, object] = {}
    rows = connection.execute(sa.select(events).order_by(events.c.seq)).mappings().all()
    for start in range(0, len(rows), _BATCH):
        chained = []
        for row in rows[start : start + _BATCH]:
            event = {**row, "prev_hash": previous}
            event["hash"] = event_hash(event)
            chained.append({"at_seq": row["seq"], "prev_hash": previous, "hash": event["hash"]})
            previous = event["hash"]
            count, last = count + 1, event
        connection.execute(
            events.update()
            .where(events.c.seq == sa.bindparam("at_seq"))
            .values(prev_hash=sa.bindparam("prev_hash"), hash=sa.bindparam("hash")),
            chained,
        )
    if count:
        switch = {
            "id": uuid.uuid4().hex,
            "at": dt.datetime.now(dt.timezone.utc),
            "user": getpass.getuser(),
            "project": "",
            "server_project": "",
            "action": "hash-chain",
            "secret_id": None,
            "secret_name": None,
            "detail": json.dumps(
                {"events": count, "last_mac": last["mac"], "key_id": last["key_id"]},
                sort_keys=True,
            ),
            "key_id": None,
            "prev_mac": None,
            "mac": None,
            "prev_hash": previous,
        }
        switch["hash"] = event_hash(switch)
        connection.execute(events.insert().values(**switch))
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    connection = op.get_bind()
    newer = connection.execute(
        sa.select(sa.func.count()).select_from(events).where(events.c.mac.is_(None))
    ).scalar()
    if newer:
        raise RuntimeError(
            f"The audit log holds {newer} events recorded since revision 0005, which have no "
            "master-key MAC: revision 0004 cannot keep them. Nothing was changed."
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("key_id", existing_type=sa.String(16), nullable=False)
        batch.alter_column("prev_mac", existing_type=sa.String(64), nullable=False)
        batch.alter_column("mac", existing_type=sa.String(64), nullable=False)
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
