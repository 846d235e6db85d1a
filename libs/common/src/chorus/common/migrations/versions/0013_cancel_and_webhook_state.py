"""When a campaign was cancelled, and webhook endpoints the CMS turned off (a 410 Gone).

`campaigns.cancelled_at`: the CMS reads when its cancel took effect, and the
`campaign.cancelled` webhook carries it. `webhook_endpoints.disabled_at`/`disabled_reason`:
an endpoint that answered 410 gets nothing more until the CMS enables it again; unlike a
deleted one (`active` false) it stays listed, with the reason.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("cancelled_at", sa.DateTime(timezone=True)))
    # Campaigns cancelled before this column existed: their last share's cancellation is the
    # closest record of when that was.
    op.execute(
        """
        UPDATE campaigns c SET cancelled_at = coalesce(
            (SELECT max(s.updated_at) FROM shares s
             WHERE s.campaign_id = c.id AND s.status = 'cancelled'), c.created_at)
        WHERE c.status = 'cancelled'
        """
    )
    op.add_column("webhook_endpoints", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column("webhook_endpoints", sa.Column("disabled_reason", sa.Text()))


def downgrade() -> None:
    op.drop_column("webhook_endpoints", "disabled_reason")
    op.drop_column("webhook_endpoints", "disabled_at")
    op.drop_column("campaigns", "cancelled_at")
