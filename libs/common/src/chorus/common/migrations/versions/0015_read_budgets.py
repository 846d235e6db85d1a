"""Read budgets: the collector's reads per network, scope and window (`read_paces`, one row per
scope, counted by every metrics replica), and room in `rate_holds.scope_key` for a read hold on
a server (`read:server:<host>`, a host is up to 253 characters).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("rate_holds", "scope_key", type_=sa.String(300), existing_type=sa.String(64))
    op.create_table(
        "read_paces",
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("scope_key", sa.String(300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("network", "scope_key", name=op.f("pk_read_paces")),
    )


def downgrade() -> None:
    op.drop_table("read_paces")
    # Read holds on long host names do not fit the old column: they only delay reads, so they
    # go (they would be set again by the next 429).
    op.execute("DELETE FROM rate_holds WHERE length(scope_key) > 64")
    op.alter_column("rate_holds", "scope_key", type_=sa.String(64), existing_type=sa.String(300))
