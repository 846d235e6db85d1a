"""The colleague's say over each share before it goes out: approved (planned, released when
due), edited (the colleague's text posted instead of the campaign's), skipped; an account's
shares following its mode; and the sweep that makes "not approved in time" mean skipped, so
nothing is posted without consent.

    awaiting_review -> planned (approve) | skipped (skip, or its planned time passed)
    planned -> skipped (skip, or its account's consent expired before release)
"""

from __future__ import annotations

import uuid
from enum import Enum

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.shares.completion import settle_campaigns

__all__ = [
    "CONSENT_EXPIRED",
    "NOT_APPROVED_IN_TIME",
    "SKIPPED_BY_COLLEAGUE",
    "Reviewed",
    "approve_share",
    "edit_share",
    "follow_mode",
    "skip_expired_consent",
    "skip_share",
    "skip_unapproved",
]

SKIPPED_BY_COLLEAGUE = "skipped by colleague"
NOT_APPROVED_IN_TIME = "not approved in time"
CONSENT_EXPIRED = "consent expired"


class Reviewed(Enum):
    DONE = "done"
    # Not this colleague's share, or no share at all: answered alike, so ids reveal nothing.
    UNKNOWN = "unknown"
    # Released, posted or otherwise past the colleague's say (or its time passed).
    TOO_LATE = "too_late"


# Every statement is scoped by organisation and colleague through the share's account.
_MINE = """
    s.id = :share_id AND s.org_id = :org_id
    AND s.account_id IN (SELECT id FROM accounts WHERE org_id = :org_id
                         AND ambassador_id = :ambassador_id)
"""
# A planned share may be one waiting for its next attempt, after an answer that never came:
# its post may exist. Editing it would change the words the look-up before the retry matches
# (a second post), and skipping or holding it for review would hide a post that may be out. So
# the colleague's say covers only shares never tried; the others are past it (too late).
_NOT_TRIED = "s.first_attempt_at IS NULL"

_APPROVE = text(
    f"""
    UPDATE shares s SET status = 'planned', updated_at = now()
    WHERE {_MINE} AND s.status = 'awaiting_review' AND s.planned_at > now()
    RETURNING s.id
    """
)
_SKIP = text(
    f"""
    UPDATE shares s SET status = 'skipped', reason = :reason, updated_at = now()
    WHERE {_MINE} AND s.status IN ('awaiting_review', 'planned') AND {_NOT_TRIED}
    RETURNING s.campaign_id
    """
)
_EDIT = text(
    f"""
    UPDATE shares s SET text_override = :text, updated_at = now()
    WHERE {_MINE} AND s.status IN ('awaiting_review', 'planned') AND {_NOT_TRIED}
    RETURNING s.id
    """
)
_EXISTS = text(f"SELECT 1 FROM shares s WHERE {_MINE}")


async def _verdict(session: AsyncSession, changed: object, params: dict[str, object]) -> Reviewed:
    if changed is not None:
        return Reviewed.DONE
    exists = await session.scalar(_EXISTS, params)
    return Reviewed.TOO_LATE if exists else Reviewed.UNKNOWN


def _params(org_id: uuid.UUID, ambassador_id: uuid.UUID, share_id: uuid.UUID) -> dict[str, object]:
    return {"org_id": org_id, "ambassador_id": ambassador_id, "share_id": share_id}


async def approve_share(
    *, session: AsyncSession, org_id: uuid.UUID, ambassador_id: uuid.UUID, share_id: uuid.UUID
) -> Reviewed:
    """Approved before its planned time: planned, released when due like any other."""
    params = _params(org_id, ambassador_id, share_id)
    return await _verdict(session, await session.scalar(_APPROVE, params), params)


async def skip_share(
    *, session: AsyncSession, org_id: uuid.UUID, ambassador_id: uuid.UUID, share_id: uuid.UUID
) -> Reviewed:
    params = _params(org_id, ambassador_id, share_id)
    campaign = await session.scalar(_SKIP, {**params, "reason": SKIPPED_BY_COLLEAGUE})
    if campaign is not None:
        await settle_campaigns(session, [campaign])
    return await _verdict(session, campaign, params)


async def edit_share(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    share_id: uuid.UUID,
    text_override: str | None,
) -> Reviewed:
    """The colleague's text for this share (checked against the network's limits by the
    caller, which knows the network's rules); None goes back to the campaign's."""
    params = _params(org_id, ambassador_id, share_id)
    changed = await session.scalar(_EDIT, {**params, "text": text_override})
    return await _verdict(session, changed, params)


_FOLLOW = text(
    f"""
    UPDATE shares s SET status = :to, updated_at = now()
    WHERE s.account_id = :account_id AND s.org_id = :org_id AND s.status = :from
      AND {_NOT_TRIED}
    """
)


async def follow_mode(
    *, session: AsyncSession, org_id: uuid.UUID, account_id: uuid.UUID, mode: str
) -> None:
    """An account switched to `review`: its shares not yet released wait for approval; back
    to `auto`: those waiting are planned (the colleague asked Chorus to post for them)."""
    moves = {"review": ("planned", "awaiting_review"), "auto": ("awaiting_review", "planned")}
    before, after = moves[mode]
    await session.execute(
        _FOLLOW, {"account_id": account_id, "org_id": org_id, "from": before, "to": after}
    )


_UNAPPROVED = text(
    """
    WITH late AS (
        SELECT id FROM shares WHERE status = 'awaiting_review' AND planned_at <= now()
        ORDER BY planned_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    UPDATE shares s SET status = 'skipped', reason = :reason, updated_at = now()
    FROM late WHERE s.id = late.id
    RETURNING s.campaign_id
    """
)
_EXPIRED = text(
    """
    WITH expired AS (
        SELECT s.id FROM shares s JOIN accounts a ON a.id = s.account_id
        WHERE s.status = 'planned' AND s.planned_at <= now() AND a.consent_expires_at <= now()
        LIMIT :limit FOR UPDATE OF s SKIP LOCKED
    )
    UPDATE shares s SET status = 'skipped', reason = :reason, updated_at = now()
    FROM expired WHERE s.id = expired.id
    RETURNING s.campaign_id
    """
)


async def _skip_all(session: AsyncSession, statement: TextClause, reason: str, limit: int) -> int:
    campaigns = list(await session.scalars(statement, {"reason": reason, "limit": limit}))
    await settle_campaigns(session, set(campaigns))
    return len(campaigns)


async def skip_unapproved(*, session: AsyncSession, limit: int = 10_000) -> int:
    """Shares still awaiting review at their planned time are skipped: no approval, no post."""
    return await _skip_all(session, _UNAPPROVED, NOT_APPROVED_IN_TIME, limit)


async def skip_expired_consent(*, session: AsyncSession, limit: int = 10_000) -> int:
    """Due shares whose account's consent ran out are skipped before release, never posted."""
    return await _skip_all(session, _EXPIRED, CONSENT_EXPIRED, limit)
