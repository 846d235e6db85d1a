"""The foundation's owners and bounds: claims as leases with a token, bounded re-plans and
rate-limit waits, completed campaigns, one remote account per colleague, the consent ledger,
latest metrics per share, and indexes for what the sweeper and pruning scan.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARE_STATUSES = (
    "awaiting_review",
    "cancelled",
    "failed",
    "manual",
    "planned",
    "published",
    "publishing",
    "queued",
    "skipped",
)
CAMPAIGN_STATUSES = ("accepted", "cancelled", "completed", "scheduled")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # Shares: the claim is a lease with a token; counters bound waits and re-plans.
    op.add_column("shares", sa.Column("claim_token", sa.UUID(), nullable=True))
    op.add_column("shares", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "shares", sa.Column("rate_waits", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("shares", sa.Column("replans", sa.Integer(), server_default="0", nullable=False))
    # An attempt in flight at upgrade time keeps a lease of its old updated_at plus the old
    # default lease, so the sweeper takes it back as before.
    op.execute(
        "UPDATE shares SET lease_until = updated_at + interval '45 seconds' "
        "WHERE status = 'publishing'"
    )
    op.drop_constraint(op.f("ck_shares_status"), "shares", type_="check")
    op.create_check_constraint(op.f("ck_shares_status"), "shares", _in("status", SHARE_STATUSES))
    op.create_index(
        "ix_shares_publishing_lease",
        "shares",
        ["lease_until"],
        postgresql_where=sa.text("status = 'publishing'"),
    )
    op.create_index(
        "ix_shares_queued", "shares", ["released_at"], postgresql_where=sa.text("status = 'queued'")
    )
    op.create_index(
        op.f("ix_shares_account_id"),
        "shares",
        ["account_id"],
        postgresql_where=sa.text("status IN ('planned', 'queued')"),
    )

    # Campaigns: completed is stored (and announced), no longer derived on read.
    op.add_column("campaigns", sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_campaigns_status"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_status"), "campaigns", _in("status", CAMPAIGN_STATUSES)
    )
    op.execute(
        """
        UPDATE campaigns c SET status = 'completed', completed_at = now()
        WHERE c.status = 'scheduled' AND NOT EXISTS (
            SELECT 1 FROM shares s WHERE s.campaign_id = c.id
              AND s.status IN ('planned', 'queued', 'publishing', 'awaiting_review'))
        """
    )

    # Accounts: one remote account (server + handle) belongs to one colleague. Rows that
    # already repeat one are kept, the newest connected, the others revoked with a marked key.
    op.add_column("accounts", sa.Column("remote_key", sa.String(length=900), nullable=True))
    op.execute(
        """
        UPDATE accounts SET remote_key =
            lower(regexp_replace(base_url, '^[a-z]+://([^/:]+).*$', '\\1')) || '/'
            || lower(ltrim(trim(handle), '@'))
        """
    )
    op.execute(
        """
        WITH ranked AS (
            SELECT id, row_number() OVER (
                PARTITION BY org_id, network, remote_key
                ORDER BY (status = 'connected') DESC, updated_at DESC) AS n
            FROM accounts
        )
        UPDATE accounts a SET status = 'revoked', credentials = '',
            remote_key = a.remote_key || '#' || a.id::text
        FROM ranked WHERE ranked.id = a.id AND ranked.n > 1
        """
    )
    op.alter_column("accounts", "remote_key", nullable=False)
    op.drop_constraint(op.f("uq_accounts_ambassador_id_network_handle"), "accounts", type_="unique")
    op.create_unique_constraint(
        op.f("uq_accounts_org_id_network_remote_key"),
        "accounts",
        ["org_id", "network", "remote_key"],
    )

    # The consent ledger.
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("ambassador_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "action IN ('changed', 'granted', 'withdrawn')", name=op.f("ck_consent_events_action")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_consent_events_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ambassador_id"],
            ["ambassadors.id"],
            name=op.f("fk_consent_events_ambassador_id_ambassadors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_consent_events_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index(
        op.f("ix_consent_events_org_id_ambassador_id_at"),
        "consent_events",
        ["org_id", "ambassador_id", "at"],
    )
    op.create_index(op.f("ix_consent_events_org_id"), "consent_events", ["org_id"])
    op.execute(
        """
        INSERT INTO consent_events (org_id, ambassador_id, account_id, network, action, mode,
                                    actor, at)
        SELECT org_id, ambassador_id, id, network, 'granted', mode, 'cms', created_at
        FROM accounts WHERE status = 'connected'
        """
    )

    # The newest sample per share, where reports and gauges read it.
    op.create_table(
        "latest_metrics",
        sa.Column("share_id", sa.UUID(), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("network", sa.String(length=16), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reshares", sa.Integer(), nullable=True),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.Column("replies", sa.Integer(), nullable=True),
        sa.Column("impressions", sa.Integer(), nullable=True),
        sa.Column("followers", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_latest_metrics_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_latest_metrics_share_id_shares"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("share_id", name=op.f("pk_latest_metrics")),
    )
    op.create_index(op.f("ix_latest_metrics_campaign_id"), "latest_metrics", ["campaign_id"])
    op.create_index(
        op.f("ix_latest_metrics_org_id_network"), "latest_metrics", ["org_id", "network"]
    )
    op.execute(
        """
        INSERT INTO latest_metrics
        SELECT DISTINCT ON (share_id) share_id, org_id, campaign_id, network, taken_at,
               reshares, likes, replies, impressions, followers
        FROM metric_samples ORDER BY share_id, taken_at DESC
        """
    )

    # What pruning scans.
    op.create_index(op.f("ix_metric_samples_taken_at"), "metric_samples", ["taken_at"])
    op.create_index(
        "ix_metric_readbacks_done",
        "metric_readbacks",
        ["done_at"],
        postgresql_where=sa.text("done_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_metric_readbacks_done", table_name="metric_readbacks")
    op.drop_index(op.f("ix_metric_samples_taken_at"), table_name="metric_samples")
    op.drop_table("latest_metrics")
    op.drop_table("consent_events")
    op.drop_constraint(op.f("uq_accounts_org_id_network_remote_key"), "accounts", type_="unique")
    op.create_unique_constraint(
        "uq_accounts_ambassador_id_network_handle",
        "accounts",
        ["ambassador_id", "network", "handle"],
    )
    op.drop_column("accounts", "remote_key")
    op.execute("UPDATE campaigns SET status = 'scheduled' WHERE status = 'completed'")
    op.drop_constraint(op.f("ck_campaigns_status"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_status"), "campaigns", "status IN ('accepted', 'scheduled', 'cancelled')"
    )
    op.drop_column("campaigns", "completed_at")
    op.drop_index(op.f("ix_shares_account_id"), table_name="shares")
    op.drop_index("ix_shares_queued", table_name="shares")
    op.drop_index("ix_shares_publishing_lease", table_name="shares")
    op.execute(
        "UPDATE shares SET status = 'cancelled' WHERE status IN ('manual', 'awaiting_review')"
    )
    op.drop_constraint(op.f("ck_shares_status"), "shares", type_="check")
    op.create_check_constraint(
        op.f("ck_shares_status"),
        "shares",
        "status IN ('planned', 'queued', 'publishing', 'published', 'failed', 'skipped', 'cancelled')",
    )
    for column in ("replans", "rate_waits", "lease_until", "claim_token"):
        op.drop_column("shares", column)
