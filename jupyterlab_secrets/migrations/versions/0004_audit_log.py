"""The audit log: ``audit_events``, append-only and chained with an HMAC per event.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("server_project", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("secret_id", sa.String(32), nullable=True),
        sa.Column("secret_name", sa.String(63), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_audit_events_project_seq", "audit_events", ["project", "seq"])
    op.create_index("ix_audit_events_secret_seq", "audit_events", ["secret_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_secret_seq", table_name="audit_events")
    op.drop_index("ix_audit_events_project_seq", table_name="audit_events")
    op.drop_table("audit_events")
