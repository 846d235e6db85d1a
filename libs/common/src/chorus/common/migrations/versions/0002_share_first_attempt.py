"""shares.first_attempt_at: when a request for the share may first have left

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing, whatever the size of the table.
    op.add_column("shares", sa.Column("first_attempt_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("shares", "first_attempt_at")
