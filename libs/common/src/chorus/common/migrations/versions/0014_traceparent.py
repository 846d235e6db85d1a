"""Trace context where work waits: a W3C `traceparent` with each outbox event (the relay sends
it as the message's header) and with each campaign (each share the releaser sends later
carries it). NULL while tracing is off.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(length=55), nullable=True))
    op.add_column("campaigns", sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    op.drop_column("campaigns", "traceparent")
    op.drop_column("outbox", "traceparent")
