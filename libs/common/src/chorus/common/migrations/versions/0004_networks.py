"""Five networks: accounts that need connecting again (and their kind, and when their
authorisation runs out), campaign images and link-card descriptions, rate budgets shared by
every publisher, and the state of OAuth flows under way.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_accounts_status"), "accounts", type_="check")
    op.create_check_constraint(
        op.f("ck_accounts_status"),
        "accounts",
        "status IN ('connected', 'needs_reauth', 'revoked')",
    )
    op.add_column("accounts", sa.Column("kind", sa.String(16), server_default="", nullable=False))
    op.add_column("accounts", sa.Column("status_reason", sa.Text(), nullable=True))
    op.add_column(
        "accounts", sa.Column("authorized_until", sa.DateTime(timezone=True), nullable=True)
    )

    op.add_column(
        "campaigns", sa.Column("description", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "campaigns",
        sa.Column(
            "images",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )

    op.create_table(
        "rate_holds",
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("scope_key", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("network", "scope_key", name=op.f("pk_rate_holds")),
    )

    op.create_table(
        "oauth_flows",
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("ambassador_id", sa.UUID(), nullable=False),
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("instance", sa.String(500), server_default="", nullable=False),
        sa.Column("sealed_verifier", sa.LargeBinary(), nullable=False),
        sa.Column("return_to", sa.String(2000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ambassador_id"],
            ["ambassadors.id"],
            name=op.f("fk_oauth_flows_ambassador_id_ambassadors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_oauth_flows_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_oauth_flows")),
    )
    op.create_index(op.f("ix_oauth_flows_org_id"), "oauth_flows", ["org_id"])

    op.create_table(
        "oauth_apps",
        sa.Column("network", sa.String(16), nullable=False),
        sa.Column("instance", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(500), nullable=False),
        sa.Column("sealed_secret", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("network", "instance", name=op.f("pk_oauth_apps")),
    )


def downgrade() -> None:
    op.drop_table("oauth_apps")
    op.drop_index(op.f("ix_oauth_flows_org_id"), table_name="oauth_flows")
    op.drop_table("oauth_flows")
    op.drop_table("rate_holds")
    op.drop_column("campaigns", "images")
    op.drop_column("campaigns", "description")
    op.drop_column("accounts", "authorized_until")
    op.drop_column("accounts", "status_reason")
    op.drop_column("accounts", "kind")
    op.execute("UPDATE accounts SET status = 'revoked' WHERE status = 'needs_reauth'")
    op.drop_constraint(op.f("ck_accounts_status"), "accounts", type_="check")
    op.create_check_constraint(
        op.f("ck_accounts_status"), "accounts", "status IN ('connected', 'revoked')"
    )
