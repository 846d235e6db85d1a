"""The scheduler's side of the lifecycle (staging is `staging`): releasing shares when due,
taking back those whose attempt or message was lost, and cancelling those no longer wanted."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import Network
from chorus.common.messages import ShareFailed
from chorus.common.outbox import add_events
from chorus.common.shares.completion import settle_campaigns

__all__ = [
    "DueShare",
    "cancel_open_shares",
    "due_shares",
    "mark_released",
    "replan_stale",
]


@dataclass(frozen=True, slots=True)
class DueShare:
    share_id: uuid.UUID
    org_id: uuid.UUID
    network: Network
    # The campaign's trace (chorus.common.tracing), continued by the share's release.
    traceparent: str | None = None


_DUE = text(
    """
    SELECT s.id, s.org_id, s.network, c.traceparent FROM shares s
    JOIN campaigns c ON c.id = s.campaign_id
    WHERE s.status = 'planned' AND s.planned_at <= now()
    ORDER BY s.planned_at
    LIMIT :limit
    FOR UPDATE OF s SKIP LOCKED
    """
)
_RELEASED = text(
    """
    UPDATE shares SET status = 'queued', released_at = now(), updated_at = now()
    WHERE id = ANY(:ids) AND status = 'planned'
    """
)
NEXT_DUE = text("SELECT min(planned_at) FROM shares WHERE status = 'planned'")


async def due_shares(*, session: AsyncSession, limit: int) -> list[DueShare]:
    """Lock up to `limit` shares due now (other releasers skip them)."""
    rows = await session.execute(_DUE, {"limit": limit})
    return [DueShare(r.id, r.org_id, Network(r.network), r.traceparent) for r in rows]


async def mark_released(*, session: AsyncSession, share_ids: Sequence[uuid.UUID]) -> None:
    """In the transaction that locked them, once their messages are confirmed by the broker."""
    await session.execute(_RELEASED, {"ids": list(share_ids)})


# An attempt whose lease ran out died (or outlived its deadline): the share is planned again,
# and its retry looks the post up first where the network cannot deduplicate. A queued share
# whose message is gone (its queue drained without an outcome for it: dead-lettered) is planned
# again too; a queue that never quite drains cannot hold one longer than `patience`. Each time
# counts, and a share taken back `max_replans` times fails with the reason instead of looping.
_STALE = text(
    """
    WITH stale AS (
        SELECT id FROM shares
        WHERE (status = 'publishing' AND lease_until < now())
           OR (status = 'queued' AND released_at < now() - CAST(:queued_age AS interval)
               AND (network = ANY(:drained)
                    OR released_at < now() - CAST(:patience AS interval)))
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE shares s SET
        status = CASE WHEN s.replans >= :max_replans THEN 'failed' ELSE 'planned' END,
        reason = CASE WHEN s.replans >= :max_replans
                      THEN 'gave up: its attempt or message was lost ' || (s.replans + 1)
                           || ' times' || COALESCE(' (last: ' || s.reason || ')', '')
                      ELSE s.reason END,
        replans = s.replans + 1, planned_at = now(), claim_token = NULL, lease_until = NULL,
        updated_at = now()
    FROM stale WHERE s.id = stale.id
    RETURNING s.id, s.org_id, s.campaign_id, s.network, s.status, s.reason
    """
)


async def replan_stale(
    *,
    session: AsyncSession,
    drained: Sequence[Network],
    queued_age: timedelta,
    patience: timedelta,
    max_replans: int,
    limit: int = 10_000,
) -> tuple[int, int]:
    """Take back lost shares; returns (planned again, given up)."""
    rows = (
        await session.execute(
            _STALE,
            {
                "drained": [n.value for n in drained],
                "queued_age": queued_age,
                "patience": patience,
                "max_replans": max_replans,
                "limit": limit,
            },
        )
    ).all()
    failed = [r for r in rows if r.status == "failed"]
    await add_events(
        session,
        [
            ShareFailed(
                share_id=r.id,
                org_id=r.org_id,
                campaign_id=r.campaign_id,
                network=Network(r.network),
                reason=r.reason[:1000],
            )
            for r in failed
        ],
    )
    await settle_campaigns(session, {r.campaign_id for r in failed})
    return len(rows) - len(failed), len(failed)


_CANCEL_FOR_ACCOUNTS = text(
    """
    UPDATE shares SET status = 'cancelled', reason = :reason, claim_token = NULL,
        lease_until = NULL, updated_at = now()
    WHERE account_id = ANY(:account_ids) AND org_id = :org_id
      AND status IN ('planned', 'queued', 'awaiting_review')
    RETURNING campaign_id
    """
)


async def cancel_open_shares(
    *, session: AsyncSession, org_id: uuid.UUID, account_ids: Sequence[uuid.UUID], reason: str
) -> int:
    """Shares of these accounts not yet being posted are cancelled (consent withdrawn, colleague
    left); one being posted right now is stopped by the publisher's check before its call."""
    campaigns = list(
        await session.scalars(
            _CANCEL_FOR_ACCOUNTS,
            {"account_ids": list(account_ids), "org_id": org_id, "reason": reason},
        )
    )
    await settle_campaigns(session, set(campaigns))
    return len(campaigns)
