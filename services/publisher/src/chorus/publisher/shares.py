"""The share's state machine as the publisher drives it. Each step is one statement or one
transaction, so a crash between two steps leaves a state the next delivery can resume from."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.messages import Observation, ShareFailed, SharePublished
from chorus.common.networks import Network, PostCounts, PostResult
from chorus.common.outbox import add_events

__all__ = ["ShareJob", "Unclaimed", "claim_many", "delay", "fail", "mark_published_many"]


@dataclass(frozen=True)
class ShareJob:
    share_id: uuid.UUID
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    network: Network
    idempotency_key: str
    attempts: int
    message: str
    url: str
    base_url: str
    remote_account_id: str | None
    credentials: bytes
    account_status: str
    # When a request for this share may first have left, and whether that was before this
    # claim (a retry: the post may already exist).
    first_attempt_at: datetime
    attempted_before: bool


# Records the intent before any network call, for a batch of shares at once. A share already
# `publishing` is taken again once its claim is older than the lease: the attempt died mid-call
# (the retry carries the same idempotency key). Within the lease another attempt may still be
# running, and two concurrent requests could race the network's key check, so it waits. A share
# that was delayed (planned later) or has an outcome is left alone.
_CLAIM = text(
    """
    UPDATE shares s SET status = 'publishing', updated_at = now(),
        first_attempt_at = COALESCE(s.first_attempt_at, now())
    FROM accounts a, campaigns c,
         unnest(CAST(:ids AS uuid[]), CAST(:orgs AS uuid[])) AS r(id, org_id)
    WHERE s.id = r.id AND s.org_id = r.org_id
      AND a.id = s.account_id AND c.id = s.campaign_id
      AND (s.status = 'queued'
           OR (s.status = 'publishing' AND s.updated_at < now() - CAST(:lease AS interval))
           OR (s.status = 'planned' AND s.planned_at <= now()))
    RETURNING s.id, s.org_id, s.campaign_id, s.account_id, s.network, s.idempotency_key,
              s.attempts, c.message, c.url, a.base_url, a.remote_account_id, a.credentials,
              a.status AS account_status, s.first_attempt_at,
              s.first_attempt_at < now() AS attempted_before
    """
)
_BUSY = text(
    """
    SELECT s.id FROM shares s
    JOIN unnest(CAST(:ids AS uuid[]), CAST(:orgs AS uuid[])) AS r(id, org_id)
      ON s.id = r.id AND s.org_id = r.org_id
    WHERE s.status = 'publishing'
    """
)
_PUBLISHED = text(
    """
    UPDATE shares s SET status = 'published', remote_id = v.remote_id,
        remote_url = v.remote_url, published_at = now(), reason = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:remote_ids AS text[]), CAST(:urls AS text[]))
         AS v(id, remote_id, remote_url)
    WHERE s.id = v.id AND s.status = 'publishing'
    RETURNING s.id, s.published_at
    """
)
_FAILED = text(
    """
    UPDATE shares SET status = 'failed', reason = :reason, attempts = attempts + :spent,
        updated_at = now()
    WHERE id = :share_id AND status = 'publishing'
    RETURNING id
    """
)
_DELAYED = text(
    """
    UPDATE shares SET status = 'planned', planned_at = :until, reason = :reason,
        attempts = attempts + :spent, updated_at = now()
    WHERE id = :share_id AND status = 'publishing'
    """
)


class Unclaimed(enum.Enum):
    NOTHING_TO_DO = "nothing to do now"  # an outcome already, or delayed until later
    IN_PROGRESS = "another attempt holds it"  # claimed within the lease


async def claim_many(
    *,
    session: AsyncSession,
    requests: Sequence[tuple[uuid.UUID, uuid.UUID]],
    lease: timedelta,
) -> list[ShareJob | Unclaimed]:
    """Claim (share id, organisation id) pairs, each for `lease` at least."""
    rows = await session.execute(
        _CLAIM,
        {"ids": [r[0] for r in requests], "orgs": [r[1] for r in requests], "lease": lease},
    )
    jobs = {
        row.id: ShareJob(
            share_id=row.id,
            org_id=row.org_id,
            campaign_id=row.campaign_id,
            account_id=row.account_id,
            network=Network(row.network),
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            message=row.message,
            url=row.url,
            base_url=row.base_url,
            remote_account_id=row.remote_account_id,
            credentials=row.credentials,
            account_status=row.account_status,
            first_attempt_at=row.first_attempt_at,
            attempted_before=row.attempted_before,
        )
        for row in rows
    }
    busy: set[uuid.UUID] = set()
    if len(jobs) < len(requests):
        unclaimed = [r for r in requests if r[0] not in jobs]
        busy = set(
            await session.scalars(
                _BUSY, {"ids": [r[0] for r in unclaimed], "orgs": [r[1] for r in unclaimed]}
            )
        )
    return [
        jobs.get(share_id)
        or (Unclaimed.IN_PROGRESS if share_id in busy else Unclaimed.NOTHING_TO_DO)
        for share_id, _ in requests
    ]


async def mark_published_many(
    *, session: AsyncSession, outcomes: Sequence[tuple[ShareJob, PostResult]]
) -> list[None]:
    """Record posts and announce them, in the caller's transaction."""
    rows = await session.execute(
        _PUBLISHED,
        {
            "ids": [job.share_id for job, _ in outcomes],
            "remote_ids": [result.remote_id for _, result in outcomes],
            "urls": [result.url for _, result in outcomes],
        },
    )
    # A share missing here had its outcome recorded by another delivery first.
    published: dict[uuid.UUID, datetime] = {row.id: row.published_at for row in rows}
    await add_events(
        session,
        [
            SharePublished(
                share_id=job.share_id,
                org_id=job.org_id,
                campaign_id=job.campaign_id,
                account_id=job.account_id,
                network=job.network,
                remote_id=result.remote_id,
                published_at=published[job.share_id],
                observed=_observation(result.observed),
            )
            for job, result in outcomes
            if job.share_id in published
        ],
    )
    return [None] * len(outcomes)


async def fail(*, session: AsyncSession, job: ShareJob, reason: str, spent: int) -> None:
    failed = await session.scalar(
        _FAILED, {"share_id": job.share_id, "reason": reason[:1000], "spent": spent}
    )
    if failed is None:
        return
    await add_events(
        session,
        [
            ShareFailed(
                share_id=job.share_id,
                org_id=job.org_id,
                campaign_id=job.campaign_id,
                network=job.network,
                reason=reason[:1000],
            )
        ],
    )


async def delay(
    *, session: AsyncSession, job: ShareJob, until: datetime, reason: str, spent: int
) -> None:
    """Hand the share back to the scheduler for `until`: a wait never holds a message."""
    await session.execute(
        _DELAYED,
        {"share_id": job.share_id, "until": until, "reason": reason[:1000], "spent": spent},
    )


def _observation(counts: PostCounts | None) -> Observation | None:
    if counts is None:
        return None
    return Observation(
        reshares=counts.reshares,
        likes=counts.likes,
        replies=counts.replies,
        impressions=counts.impressions,
        followers=counts.author_followers,
    )
