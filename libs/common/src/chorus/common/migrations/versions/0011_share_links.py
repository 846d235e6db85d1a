"""Tracked links: each share's short code (`share_links`, written by the publisher when it
first renders the share), its clicks per day (`share_clicks`), and a campaign's UTM template.

Clicks are one row per share and day, incremented in place (INSERT ... ON CONFLICT DO UPDATE)
rather than one row per click: the table stays as small as the shares times the days they are
clicked, and many clicks on one share wait only on that row's lock for one statement each.
Nothing about who clicked is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("utm", postgresql.JSONB(), nullable=True))
    op.create_table(
        "share_links",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("share_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_share_links_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_share_links_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_share_links")),
        sa.UniqueConstraint("share_id", name=op.f("uq_share_links_share_id")),
    )
    op.create_table(
        "share_clicks",
        sa.Column("share_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_share_clicks_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_share_clicks_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("share_id", "day", name=op.f("pk_share_clicks")),
    )
    op.create_index(op.f("ix_share_clicks_org_id_day"), "share_clicks", ["org_id", "day"])


def downgrade() -> None:
    op.drop_index(op.f("ix_share_clicks_org_id_day"), table_name="share_clicks")
    op.drop_table("share_clicks")
    op.drop_table("share_links")
    op.drop_column("campaigns", "utm")
