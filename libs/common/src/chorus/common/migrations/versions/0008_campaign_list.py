"""The campaign list's index: an organisation's campaigns by (created_at, id), which the
list reads backwards (newest first, keyset pages) instead of sorting them all.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 18:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_campaigns_org_id_created_at_id"), "campaigns", ["org_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_campaigns_org_id_created_at_id"), table_name="campaigns")
