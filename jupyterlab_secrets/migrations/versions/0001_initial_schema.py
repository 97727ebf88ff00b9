"""The schema of the releases before migrations (they created it with ``create_all``).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(12), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project", "name", name="uq_secrets_project_name"),
    )
    op.create_index("ix_secrets_project", "secrets", ["project"])
    op.create_table(
        "secret_shares",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("community", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["secret_id"], ["secrets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("secret_id", "community"),
    )
    op.create_index("ix_secret_shares_community", "secret_shares", ["community"])
    op.create_table(
        "attachments",
        sa.Column("secret_id", sa.String(32), nullable=False),
        sa.Column("project", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["secret_id"], ["secrets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("secret_id", "project"),
    )
    op.create_index("ix_attachments_project", "attachments", ["project"])


def downgrade() -> None:
    op.drop_table("attachments")
    op.drop_table("secret_shares")
    op.drop_table("secrets")
