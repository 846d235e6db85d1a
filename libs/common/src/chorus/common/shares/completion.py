"""A campaign is completed once every share has an outcome, and says so exactly once.

Each transaction that gives shares an outcome calls `settle_campaigns` last. It locks the
campaigns (in id order, so two such transactions never deadlock) before looking for shares still
open: a transaction finishing the campaign's last shares at the same moment waits for the lock,
and its check then sees this one's outcomes committed. So whichever commits last completes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.kinds import OPEN_SHARE_STATUSES, CampaignStatus
from chorus.common.messages import CampaignCompleted
from chorus.common.outbox import add_events

__all__ = ["settle_campaigns"]

_LOCK = text(
    "SELECT id FROM campaigns WHERE id = ANY(:ids) AND status = :scheduled ORDER BY id FOR UPDATE"
)
_COMPLETE = text(
    """
    UPDATE campaigns c SET status = :completed, completed_at = now()
    WHERE c.id = ANY(:ids) AND c.status = :scheduled
      AND NOT EXISTS (
          SELECT 1 FROM shares s WHERE s.campaign_id = c.id AND s.status = ANY(:open)
      )
    RETURNING c.id, c.org_id, c.completed_at
    """
)


async def settle_campaigns(session: Executor, campaign_ids: Iterable[uuid.UUID]) -> int:
    """Complete those of `campaign_ids` with no open share left; returns how many."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return 0
    params = {"ids": ids, "scheduled": CampaignStatus.SCHEDULED.value}
    locked = list(await session.scalars(_LOCK, params))
    if not locked:
        return 0
    rows = (
        await session.execute(
            _COMPLETE,
            {
                **params,
                "ids": locked,
                "completed": CampaignStatus.COMPLETED.value,
                "open": [s.value for s in OPEN_SHARE_STATUSES],
            },
        )
    ).all()
    await add_events(
        session,
        [
            CampaignCompleted(campaign_id=r.id, org_id=r.org_id, completed_at=r.completed_at)
            for r in rows
        ],
    )
    return len(rows)
