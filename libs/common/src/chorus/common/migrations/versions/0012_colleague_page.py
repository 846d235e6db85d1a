"""The colleague's page: a share's text as the colleague edited it, a version per colleague that
revokes every page link issued before it, and when an account's consent runs out where the
network limits it (LinkedIn: a year after it was granted).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shares", sa.Column("text_override", sa.Text(), nullable=True))
    op.add_column(
        "ambassadors",
        sa.Column("page_token_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "accounts", sa.Column("consent_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("accounts", "consent_expires_at")
    op.drop_column("ambassadors", "page_token_version")
    op.drop_column("shares", "text_override")
