"""Colleagues as the CMS keeps them: a status (active, paused, left) instead of the `active`
flag, quiet hours, and groups.

Groups are a text[] with a GIN index rather than a `groups` table and a membership table:
the CMS owns the groups and Chorus only ever asks "who is in these groups" (the list's filter,
a campaign's audience), which `groups && ARRAY[...]` answers from the index; a bulk upsert
stays one statement, and "unchanged" is one comparison of the row, not a diff of memberships.
A group with attributes of its own (a name apart from its key, an owner) would earn a table.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ambassadors",
        sa.Column("status", sa.String(16), server_default="active", nullable=False),
    )
    # Nothing set `active` to false but a hand in the database: such a colleague was kept
    # out of campaigns, which is what paused means.
    op.execute("UPDATE ambassadors SET status = 'paused' WHERE NOT active")
    op.drop_column("ambassadors", "active")
    op.create_check_constraint(
        op.f("ck_ambassadors_status"), "ambassadors", "status IN ('active', 'left', 'paused')"
    )
    op.add_column(
        "ambassadors",
        sa.Column("quiet_start", sa.Time(), server_default=sa.text("'22:00'"), nullable=False),
    )
    op.add_column(
        "ambassadors",
        sa.Column("quiet_end", sa.Time(), server_default=sa.text("'07:00'"), nullable=False),
    )
    op.add_column(
        "ambassadors",
        sa.Column(
            "groups", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
    )
    op.create_index(
        op.f("ix_ambassadors_groups"), "ambassadors", ["groups"], postgresql_using="gin"
    )
    op.create_index(op.f("ix_ambassadors_org_id_id"), "ambassadors", ["org_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ambassadors_org_id_id"), table_name="ambassadors")
    op.drop_index(op.f("ix_ambassadors_groups"), table_name="ambassadors")
    op.drop_column("ambassadors", "groups")
    op.drop_column("ambassadors", "quiet_end")
    op.drop_column("ambassadors", "quiet_start")
    op.add_column(
        "ambassadors",
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
    )
    # Paused and left colleagues both take no shares: both are inactive.
    op.execute("UPDATE ambassadors SET active = (status = 'active')")
    op.drop_constraint(op.f("ck_ambassadors_status"), "ambassadors", type_="check")
    op.drop_column("ambassadors", "status")
