"""Kept versions, who changed a secret last, the name a secret was added under, value lengths,
and change counters.

- ``secrets.updated_by``: who made the current version; existing rows get their creator.
- ``secrets.value_length``: the current value's length in characters. A migration cannot
  decrypt, so existing rows get NULL, which the store reads as the value's UTF-8 byte count
  (``length(ciphertext) - 16``: an upper bound of the characters, exact for ASCII) until the
  value next changes.
- ``attachments.name``: the name under which a project added a shared secret; existing
  attachments get the secret's current name.
- ``secret_versions``: earlier values, encrypted, deleted with their secret.
- ``change_counters``: one counter per project and per community, bumped with every write, so
  a project learns whether anything it sees changed by reading a few rows.

Columns are added with a server default rather than by rebuilding the table: on SQLite a
rebuild of ``secrets`` would drop it while foreign keys are on, and cascade to its shares and
attachments (see ``env.py``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.add_column(
        "secrets",
        sa.Column("updated_by", sa.String(255), nullable=False, server_default=""),
    )
    op.execute("UPDATE secrets SET updated_by = created_by")
    op.add_column("secrets", sa.Column("value_length", sa.Integer(), nullable=True))
    op.add_column(
        "attachments", sa.Column("name", sa.String(63), nullable=False, server_default="")
    )
    op.execute(
        "UPDATE attachments SET name = "
        "(SELECT secrets.name FROM secrets WHERE secrets.id = attachments.secret_id)"
    )
    if postgresql:
        # SQLite cannot drop a default without rebuilding the table; there it stays, unused:
        # the store always writes both columns.
        op.alter_column("secrets", "updated_by", server_default=None)
        op.alter_column("attachments", "name", server_default=None)
    op.create_table(
        "secret_versions",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["secret_id"], ["secrets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("secret_id", "version"),
    )
    op.create_table(
        "change_counters",
        sa.Column("scope", sa.String(1), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("counter", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "name"),
    )


def downgrade() -> None:
    op.drop_table("change_counters")
    op.drop_table("secret_versions")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), never a rebuild of ``secrets``.
    op.execute("ALTER TABLE attachments DROP COLUMN name")
    op.execute("ALTER TABLE secrets DROP COLUMN value_length")
    op.execute("ALTER TABLE secrets DROP COLUMN updated_by")
