"""Staging a million shares at 50k rows/s, second step: the two `shares` indexes whose keys
are nearly all the same (`org_id`; `campaign_id, status`, a campaign's shares all `planned`
when staged) stop deduplicating. B-tree deduplication folds equal keys into posting lists
each time a leaf fills, rewriting the page again and again as a staging COPY appends to it:
measured with `make bench-staging`, those passes were a fifth of PostgreSQL's time for a
one-million-share campaign (15.7 → 13.9 CPU s). Without it, equal keys are appended in heap
order at the index's right edge, the cheapest insert a B-tree has; the indexes are larger
(a few tens of MB per million shares), which VACUUM keeps in check as shares change status.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = ("ix_shares_org_id", "ix_shares_campaign_id_status")


def upgrade() -> None:
    # Entries already deduplicated stay as they are; new ones are written plainly.
    for index in _INDEXES:
        op.execute(f"ALTER INDEX {index} SET (deduplicate_items = off)")


def downgrade() -> None:
    for index in _INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (deduplicate_items)")
