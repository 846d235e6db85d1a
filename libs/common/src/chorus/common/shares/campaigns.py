"""What the CMS asks of a whole campaign: cancel it, or retry its failed shares.

Both lock the campaign row first, like staging, so a cancel, a retry and the staging of one
campaign take turns. Neither waits on a share another transaction holds: the shares that
transaction holds (being released, swept, cancelled for their account) are left to the
publisher's check before its call, which reads the campaign's status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.kinds import CampaignStatus
from chorus.common.messages import CampaignCancelled
from chorus.common.outbox import add_events

__all__ = ["Cancellation", "Retry", "cancel_campaign", "retry_failed"]

_LOCK = text("SELECT status FROM campaigns WHERE id = :c AND org_id = :org FOR UPDATE")

_CANCEL_CAMPAIGN = text(
    "UPDATE campaigns SET status = 'cancelled', cancelled_at = now() "
    "WHERE id = :c AND status IN ('accepted', 'scheduled') RETURNING cancelled_at"
)
# Not `publishing`: that share's attempt is between its claim and its network call, and its
# check just before the call (still_wanted) sees the campaign cancelled. A cancelled share can
# never be claimed again (claim_many takes queued, planned or lapsed publishing shares only).
_CANCEL_SHARES = text(
    """
    WITH open AS (
        SELECT id FROM shares
        WHERE campaign_id = :c AND org_id = :org
          AND status IN ('planned', 'queued', 'awaiting_review')
        FOR UPDATE SKIP LOCKED
    )
    UPDATE shares s SET status = 'cancelled', reason = :reason, claim_token = NULL,
        lease_until = NULL, updated_at = now()
    FROM open WHERE s.id = open.id
    RETURNING 1
    """
)


@dataclass(frozen=True, slots=True)
class Cancellation:
    """`was`: the campaign's status when asked; `cancelled`: shares cancelled now."""

    was: CampaignStatus
    cancelled: int


async def cancel_campaign(
    *, session: Executor, org_id: uuid.UUID, campaign_id: uuid.UUID, reason: str
) -> Cancellation | None:
    """Cancel the campaign and its shares not yet being posted; None if it is not this
    organisation's. A completed campaign is left as it is (`was` says so); a cancelled one is
    swept again, which changes nothing unless a share was left behind."""
    params = {"c": campaign_id, "org": org_id}
    status = await session.scalar(_LOCK, params)
    if status is None:
        return None
    was = CampaignStatus(status)
    if was is CampaignStatus.COMPLETED:
        return Cancellation(was=was, cancelled=0)
    cancelled_at = await session.scalar(_CANCEL_CAMPAIGN, params)
    rows = await session.execute(_CANCEL_SHARES, {**params, "reason": reason})
    cancelled = len(rows.all())
    if cancelled_at is not None:
        # Announced once, by the cancel that changed the campaign; a second cancel only sweeps.
        await add_events(
            session,
            [
                CampaignCancelled(
                    campaign_id=campaign_id,
                    org_id=org_id,
                    cancelled_at=cancelled_at,
                    shares_cancelled=cancelled,
                )
            ],
        )
    return Cancellation(was=was, cancelled=cancelled)


# attempts, rate_waits and replans start again: a person asked for another try, and a share
# that ran out of attempts would otherwise fail again at its first error. What makes a retry
# safe is kept: the idempotency key (Mastodon) and the share id (Bluesky's record key) are
# the same, and first_attempt_at stays set, so where the network cannot deduplicate the
# publisher looks the post up on the account before posting again.
_RETRY = text(
    """
    WITH failed AS (
        SELECT s.id, a.status = 'connected' AND am.status = 'active' AS postable,
               a.status = 'needs_reauth' AND am.status = 'active' AS needs_reauth
        FROM shares s
        JOIN accounts a ON a.id = s.account_id
        JOIN ambassadors am ON am.id = a.ambassador_id
        WHERE s.campaign_id = :c AND s.org_id = :org AND s.status = 'failed'
    ), retried AS (
        UPDATE shares s SET status = 'planned', planned_at = now(), attempts = 0,
            rate_waits = 0, replans = 0, claim_token = NULL, lease_until = NULL,
            updated_at = now()
        FROM failed f WHERE s.id = f.id AND f.postable AND s.status = 'failed'
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM retried) AS retried,
           count(*) FILTER (WHERE needs_reauth) AS needs_reauth,
           count(*) FILTER (WHERE NOT postable AND NOT needs_reauth) AS disconnected
    FROM failed
    """
)
_REOPEN = text(
    "UPDATE campaigns SET status = 'scheduled', completed_at = NULL "
    "WHERE id = :c AND status = 'completed'"
)


@dataclass(frozen=True, slots=True)
class Retry:
    """`retried`: failed shares planned again now. Left failed: `needs_reauth` (the account
    must be connected again first) and `disconnected` (account revoked, colleague gone)."""

    was: CampaignStatus
    retried: int
    needs_reauth: int
    disconnected: int


async def retry_failed(
    *, session: Executor, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> Retry | None:
    """Plan the campaign's failed shares again, now; None if it is not this organisation's.
    A cancelled campaign is left as it is (`was` says so). A completed campaign with a share
    retried is scheduled again, and completes (and says so) again once they have outcomes."""
    params = {"c": campaign_id, "org": org_id}
    status = await session.scalar(_LOCK, params)
    if status is None:
        return None
    was = CampaignStatus(status)
    if was is CampaignStatus.CANCELLED:
        return Retry(was=was, retried=0, needs_reauth=0, disconnected=0)
    # Failed shares are terminal: no other transaction holds them, so this waits on nobody.
    row = (await session.execute(_RETRY, params)).one()
    if row.retried:
        await session.execute(_REOPEN, params)
    return Retry(
        was=was,
        retried=int(row.retried),
        needs_reauth=int(row.needs_reauth),
        disconnected=int(row.disconnected),
    )
