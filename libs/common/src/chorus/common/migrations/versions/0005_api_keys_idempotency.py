"""Several API keys per organisation (the one key each had is moved into `api_keys`), and the
answers to POSTs sent with an `Idempotency-Key`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_api_keys_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_org_id"), "api_keys", ["org_id"])
    # Each organisation's key goes on working: its hash moves over. Only the hash was kept, so
    # the prefix shown to people stays unknown (NULL).
    op.execute(
        "INSERT INTO api_keys (org_id, name, key_hash, prefix, created_at) "
        "SELECT id, 'API key', api_key_hash, NULL, created_at FROM organisations"
    )
    # One place holds keys from now on: two would be two owners of "is this key valid".
    op.drop_constraint(op.f("uq_organisations_api_key_hash"), "organisations", type_="unique")
    op.drop_column("organisations", "api_key_hash")

    op.create_table(
        "idempotency_keys",
        sa.Column("org_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("owner", sa.UUID(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_idempotency_keys_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])
    # The header takes up to 255 characters now, and the campaign keeps it.
    op.alter_column(
        "campaigns",
        "idempotency_key",
        type_=sa.String(255),
        existing_type=sa.String(200),
        existing_nullable=True,
    )


def downgrade() -> None:
    # Keys longer than the old column are cut: a retry with one would make a second campaign,
    # which is what going back to 0004 means.
    op.alter_column(
        "campaigns",
        "idempotency_key",
        type_=sa.String(200),
        existing_type=sa.String(255),
        existing_nullable=True,
        postgresql_using="left(idempotency_key, 200)",
    )
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")

    op.add_column("organisations", sa.Column("api_key_hash", sa.String(64), nullable=True))
    # One key per organisation again: its oldest usable one; an organisation without any gets
    # a hash no key has, so it can no longer sign in (as its keys could not).
    op.execute(
        "UPDATE organisations o SET api_key_hash = COALESCE("
        "(SELECT k.key_hash FROM api_keys k WHERE k.org_id = o.id "
        "AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) "
        "ORDER BY k.created_at LIMIT 1), "
        "md5(random()::text) || md5(random()::text))"
    )
    op.alter_column("organisations", "api_key_hash", nullable=False)
    op.create_unique_constraint(
        op.f("uq_organisations_api_key_hash"), "organisations", ["api_key_hash"]
    )
    op.drop_index(op.f("ix_api_keys_org_id"), table_name="api_keys")
    op.drop_table("api_keys")
