"""Staging a million shares at 50k rows/s, third step: `shares` keeps one index fewer. A
staging COPY writes every row into every index whose predicate it meets; `ix_shares_org_id`
was one of six, and measured with `make bench-staging` dropping it alone took a million-share
staging from 54k to 58k rows/s. Its readers move to indexes that also serve others better:

- `(status, planned_at)`, every status, replaces the releaser's partial `ix_shares_due`
  (planned only): the releaser's scan is the same prefix, and the spreading planner's reads of
  what is already counted in a window (an account's daily cap, an app's budget) and the sweep
  of unapproved shares become range scans instead of a walk over the organisation's shares;
- `account_id`, every status, replaces the partial one (planned and queued): a colleague's
  pending shares include `awaiting_review`, which the partial one left out, and the delete
  triggers of migration 0016 find an account's shares of any status by it;
- `(org_id, published_at)` for published shares only: the reach reports' reads by day. A
  staging writes nothing into it (no share is staged published).

One transaction: readers see the old indexes or the new ones. Building them holds a write
lock on `shares` for as long as the build takes (seconds per million shares).

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
    op.drop_index("ix_shares_due", "shares")
    op.drop_index("ix_shares_org_id", "shares")
    op.drop_index("ix_shares_account_id", "shares")
    # Like keys (a campaign staged with no window is planned at one instant): appended in
    # heap order, not folded into posting lists leaf after leaf (see 0017).
    op.create_index(
        "ix_shares_status_planned_at",
        "shares",
        ["status", "planned_at"],
        postgresql_with={"deduplicate_items": "off"},
    )
    op.create_index("ix_shares_account_id", "shares", ["account_id"])
    op.create_index(
        "ix_shares_published",
        "shares",
        ["org_id", "published_at"],
        postgresql_where=sa.text("status = 'published'"),
    )


def downgrade() -> None:
    op.create_index(
        "ix_shares_org_id", "shares", ["org_id"], postgresql_with={"deduplicate_items": "off"}
    )
    op.create_index(
        "ix_shares_due", "shares", ["planned_at"], postgresql_where=sa.text("status = 'planned'")
    )
    op.drop_index("ix_shares_published", "shares")
    op.drop_index("ix_shares_account_id", "shares")
    op.drop_index("ix_shares_status_planned_at", "shares")
    op.create_index(
        "ix_shares_account_id",
        "shares",
        ["account_id"],
        postgresql_where=sa.text("status IN ('planned', 'queued')"),
    )
