"""A campaign's window and audience, and whether an organisation's "now" campaigns spread.

`campaigns.ends_at` (NULL: "now", spread over the planner's horizon) and `campaigns.audience`
(NULL: everyone; else {"groups": [...]} or {"colleagues": [external ids]}).
`organisations.spread_now`: a campaign without a window spreads over the horizon unless it is
false, when it posts at once (as before this revision: existing organisations keep that).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 19:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("campaigns", sa.Column("audience", postgresql.JSONB(), nullable=True))
    # Organisations that exist already keep posting at once; new ones spread by default.
    op.add_column(
        "organisations",
        sa.Column("spread_now", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("organisations", "spread_now", server_default=sa.true())


def downgrade() -> None:
    op.drop_column("organisations", "spread_now")
    op.drop_column("campaigns", "audience")
    op.drop_column("campaigns", "ends_at")
