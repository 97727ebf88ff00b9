"""Cover the lookups of shares by community and of attachments by project.

Listing and the environment ask "which secrets are shared with these communities" and "which
are added to this project". Indexes on (community, secret_id) and (project, secret_id) answer
both from the index alone. The index on ``secrets.project`` goes: the unique index on
(project, name) already serves every lookup by project, in name order.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_secret_shares_community_secret", "secret_shares", ["community", "secret_id"]
    )
    op.drop_index("ix_secret_shares_community", table_name="secret_shares")
    op.create_index("ix_attachments_project_secret", "attachments", ["project", "secret_id"])
    op.drop_index("ix_attachments_project", table_name="attachments")
    op.drop_index("ix_secrets_project", table_name="secrets")


def downgrade() -> None:
    op.create_index("ix_secrets_project", "secrets", ["project"])
    op.create_index("ix_attachments_project", "attachments", ["project"])
    op.drop_index("ix_attachments_project_secret", table_name="attachments")
    op.create_index("ix_secret_shares_community", "secret_shares", ["community"])
    op.drop_index("ix_secret_shares_community_secret", table_name="secret_shares")
