"""Staging a million shares at 50k rows/s, third step: `shares`' indexes are chosen by their
readers. A staging COPY writes every row into every index whose predicate it meets, so each
index is there for a reader that needs it, and serves as many as it can:

- `(status, planned_at)`, every status, replaces the releaser's partial `ix_shares_due`
  (planned only): the releaser's scan is the same prefix, and the sweeps of unapproved shares
  and of shares whose consent expired become range scans too;
- `(org_id, UTC day of planned_at)` replaces `org_id`: what an organisation already has
  counted in a window (each account's daily cap, an app's budget: the spreading planner's
  reads) is a range of it, not a walk over the organisation's whole history, nor over every
  organisation's shares in the window. By day rather than by instant, a staging appends to the
  end of one run of equal keys per day of its window instead of writing all over the index:
  measured with `make bench-staging`, a million shares cost the backend 14.2 to 15.1 s with
  `(org_id, planned_at)` and 12.7 to 13.5 s with this;
- `account_id`, every status, replaces the partial one (planned and queued): a colleague's
  pending shares include `awaiting_review`, which the partial one left out, and the delete
  triggers of migration 0016 find an account's shares of any status by it;
- `(org_id, published_at)` for published shares only: the reach reports' reads by day. A
  staging writes nothing into it (no share is staged published).

The new indexes are built first, under a write lock (readers go on meanwhile; building them
takes seconds per million shares); the old ones are dropped last, whose lock blocks readers
too, but only for the moment of the drop. One transaction: readers see the old indexes or the
new ones.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Like keys (a campaign staged with no window is planned at one instant): appended in
    # heap order, not folded into posting lists leaf after leaf (see 0017).
    op.create_index(
        "ix_shares_status_planned_at",
        "shares",
        ["status", "planned_at"],
        postgresql_with={"deduplicate_items": "off"},
    )
    op.create_index(
        "ix_shares_org_id_day",
        "shares",
        ["org_id", sa.text("((planned_at AT TIME ZONE 'UTC')::date)")],
        postgresql_with={"deduplicate_items": "off"},
    )
    op.create_index("ix_shares_account_id_all", "shares", ["account_id"])
    op.create_index(
        "ix_shares_published",
        "shares",
        ["org_id", "published_at"],
        postgresql_where=sa.text("status = 'published'"),
    )
    op.drop_index("ix_shares_due", "shares")
    op.drop_index("ix_shares_org_id", "shares")
    op.drop_index("ix_shares_account_id", "shares")
    op.execute("ALTER INDEX ix_shares_account_id_all RENAME TO ix_shares_account_id")


def downgrade() -> None:
    op.create_index(
        "ix_shares_account_id_planned",
        "shares",
        ["account_id"],
        postgresql_where=sa.text("status IN ('planned', 'queued')"),
    )
    op.create_index(
        "ix_shares_org_id", "shares", ["org_id"], postgresql_with={"deduplicate_items": "off"}
    )
    op.create_index(
        "ix_shares_due", "shares", ["planned_at"], postgresql_where=sa.text("status = 'planned'")
    )
    op.drop_index("ix_shares_published", "shares")
    op.drop_index("ix_shares_account_id", "shares")
    op.drop_index("ix_shares_org_id_day", "shares")
    op.drop_index("ix_shares_status_planned_at", "shares")
    op.execute("ALTER INDEX ix_shares_account_id_planned RENAME TO ix_shares_account_id")
