"""Turning a campaign into shares: one per (ambassador, connected account on its networks),
in one set-based statement, however many colleagues there are."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["stage_shares"]

log = logging.getLogger(__name__)

# Every share is planned at the campaign's start for now; spreading over a window (time
# zones, quiet hours, caps) replaces the planned_at expression and nothing else.
_STAGE = text(
    """
    WITH campaign AS (
        SELECT id, org_id, networks, starts_at FROM campaigns
        WHERE id = :campaign_id AND org_id = :org_id AND status = 'accepted'
        FOR UPDATE
    ), staged AS (
        INSERT INTO shares (id, org_id, campaign_id, account_id, network, status,
                            planned_at, idempotency_key)
        SELECT s.id, s.org_id, s.campaign_id, s.account_id, s.network, 'planned',
               s.planned_at, 'chorus-' || s.id::text
        FROM (
            SELECT gen_random_uuid() AS id, c.org_id, c.id AS campaign_id, a.id AS account_id,
                   a.network, c.starts_at AS planned_at
            FROM campaign c
            JOIN accounts a ON a.org_id = c.org_id AND a.network = ANY(c.networks)
                           AND a.status = 'connected'
            JOIN ambassadors am ON am.id = a.ambassador_id AND am.active
        ) s
        ON CONFLICT (campaign_id, account_id) DO NOTHING
        RETURNING 1
    )
    UPDATE campaigns SET status = 'scheduled', shares_planned = (SELECT count(*) FROM staged)
    WHERE id IN (SELECT id FROM campaign)
    RETURNING shares_planned
    """
)


async def stage_shares(
    *, session: AsyncSession, campaign_id: uuid.UUID, org_id: uuid.UUID
) -> int | None:
    """Stage the campaign's shares; None if it was already staged (a redelivered event)."""
    staged: int | None = await session.scalar(
        _STAGE, {"campaign_id": campaign_id, "org_id": org_id}
    )
    if staged is None:
        log.info("campaign %s already staged or unknown; nothing to do", campaign_id)
    return staged
