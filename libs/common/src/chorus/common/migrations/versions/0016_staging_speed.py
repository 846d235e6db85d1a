"""Staging a million shares at 50k rows/s: `shares` loses its three foreign keys, whose
per-row checks were 60% of PostgreSQL's time in a staging COPY (one look-up each into
organisations, campaigns and accounts, row by row). Their ON DELETE CASCADE is kept by
statement-level triggers on campaigns and accounts (an organisation's deletion reaches both
through their own cascades), which wait for a staging of the same organisation in flight, so
no share it writes outlives its campaign or account. Staging writes only the ids it has just
read under that lock.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = (
    ("fk_shares_account_id_accounts", "account_id", "accounts"),
    ("fk_shares_campaign_id_campaigns", "campaign_id", "campaigns"),
    ("fk_shares_org_id_organisations", "org_id", "organisations"),
)


def upgrade() -> None:
    for name, _, _ in _KEYS:
        op.drop_constraint(name, "shares", type_="foreignkey")
    # The lock is staging's own (chorus.common.shares.staging): a deletion waits for the
    # staging in flight and then sees every share it committed.
    op.execute(
        """
        CREATE FUNCTION chorus_delete_shares() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtextextended('stage:' || o.org_id, 0))
            FROM (SELECT DISTINCT org_id FROM gone ORDER BY org_id) o;
            IF TG_ARGV[0] = 'campaign_id' THEN
                DELETE FROM shares WHERE campaign_id IN (SELECT id FROM gone);
            ELSE
                DELETE FROM shares WHERE account_id IN (SELECT id FROM gone);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    for table, column in (("campaigns", "campaign_id"), ("accounts", "account_id")):
        op.execute(
            f"CREATE TRIGGER {table}_delete_shares AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
            f"EXECUTE FUNCTION chorus_delete_shares('{column}')"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS accounts_delete_shares ON accounts")
    op.execute("DROP TRIGGER IF EXISTS campaigns_delete_shares ON campaigns")
    op.execute("DROP FUNCTION IF EXISTS chorus_delete_shares()")
    # Shares whose owner went while the keys were off would stop the keys coming back.
    for name, column, table in _KEYS:
        op.execute(
            f"DELETE FROM shares s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} t WHERE t.id = s.{column})"
        )
        op.create_foreign_key(name, "shares", table, [column], ["id"], ondelete="CASCADE")
