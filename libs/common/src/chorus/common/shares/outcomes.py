"""Recording what an attempt came to: published, failed, delayed (a wait or a retry later),
cancelled, manual (the network takes no posts for this account: the colleague shares by hand).
Many attempts' outcomes are written in one transaction, one statement per kind, each only while
its attempt still holds the claim; the events they imply go to the outbox with them, the
published shares of a batch in one `SharesPublished` message (a relay publish, a broker message
and a metrics delivery per batch instead of per share).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.failures import FailureKind
from chorus.common.messages import (
    MAX_EVENTS_PER_MESSAGE,
    Message,
    Observation,
    ShareFailed,
    SharePublished,
    SharesPublished,
)
from chorus.common.outbox import add_events
from chorus.common.shares.claims import Claim
from chorus.common.shares.completion import settle_campaigns

__all__ = [
    "Cancelled",
    "Delayed",
    "Failed",
    "Manual",
    "Outcome",
    "Published",
    "record_outcomes",
]

REASON_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Published:
    claim: Claim
    remote_id: str
    url: str | None
    observed: Observation | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    claim: Claim
    reason: str
    # Network attempts this outcome spent (0 when no request left, e.g. unreadable credentials).
    spent: int
    kind: FailureKind = FailureKind.PERMANENT


@dataclass(frozen=True, slots=True)
class Delayed:
    """Back to `planned` until `until`: a retry after a transient failure, or a rate-limit
    wait. The share waits in the database, never on a held message."""

    claim: Claim
    until: datetime
    reason: str
    spent: int
    rate_limited: bool = False


@dataclass(frozen=True, slots=True)
class Cancelled:
    claim: Claim
    reason: str


@dataclass(frozen=True, slots=True)
class Manual:
    """No API may post for this account (a Facebook personal profile): the share ends here,
    with a link the colleague opens to share it themselves."""

    claim: Claim
    link: str
    reason: str


Outcome = Published | Failed | Delayed | Cancelled | Manual

_MANUAL = text(
    """
    UPDATE shares s SET status = 'manual', remote_url = v.link, reason = v.reason,
        lease_until = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:links AS text[]),
                CAST(:reasons AS text[])) AS v(id, token, link, reason)
    WHERE s.id = v.id AND s.claim_token = v.token AND s.status = 'publishing'
    RETURNING s.id
    """
)

_PUBLISHED = text(
    """
    UPDATE shares s SET status = 'published', remote_id = v.remote_id, remote_url = v.url,
        published_at = now(), reason = NULL, lease_until = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:remote_ids AS text[]),
                CAST(:urls AS text[])) AS v(id, token, remote_id, url)
    WHERE s.id = v.id AND s.claim_token = v.token AND s.status = 'publishing'
    RETURNING s.id, s.published_at
    """
)
_FAILED = text(
    """
    UPDATE shares s SET status = v.status, reason = v.reason, attempts = s.attempts + v.spent,
        lease_until = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:statuses AS text[]),
                CAST(:reasons AS text[]), CAST(:spent AS int[]))
         AS v(id, token, status, reason, spent)
    WHERE s.id = v.id AND s.claim_token = v.token AND s.status = 'publishing'
    RETURNING s.id
    """
)
_DELAYED = text(
    """
    UPDATE shares s SET status = 'planned', planned_at = v.until, reason = v.reason,
        attempts = s.attempts + v.spent, rate_waits = s.rate_waits + v.waited,
        claim_token = NULL, lease_until = NULL, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[]), CAST(:untils AS timestamptz[]),
                CAST(:reasons AS text[]), CAST(:spent AS int[]), CAST(:waited AS int[]))
         AS v(id, token, until, reason, spent, waited)
    WHERE s.id = v.id AND s.claim_token = v.token AND s.status = 'publishing'
    RETURNING s.id
    """
)


def _traces(
    traces: Mapping[uuid.UUID, str] | None, outcomes: Sequence[Outcome]
) -> list[str | None] | None:
    if traces is None:
        return None
    return [traces.get(o.claim.share_id) for o in outcomes]


def _published_messages(
    events: Sequence[SharePublished], traces: Sequence[str | None] | None, per_message: int
) -> tuple[list[Message], list[str | None] | None]:
    """The events in messages of `per_message` (1: each alone, the older form), each message
    carrying the trace of its first share that has one: one message holds many shares' work,
    and one trace goes on across the bus for it."""
    if per_message == 1:
        return list(events), None if traces is None else list(traces)
    messages: list[Message] = []
    message_traces: list[str | None] = []
    for start in range(0, len(events), per_message):
        messages.append(SharesPublished(events=list(events[start : start + per_message])))
        chunk = traces[start : start + per_message] if traces is not None else []
        message_traces.append(next((t for t in chunk if t is not None), None))
    return messages, None if traces is None else message_traces


def _reason(reason: str) -> str:
    return reason[:REASON_LIMIT]


async def record_outcomes(
    *,
    session: Executor,
    outcomes: Sequence[Outcome],
    traces: Mapping[uuid.UUID, str] | None = None,
    published_per_message: int = MAX_EVENTS_PER_MESSAGE,
) -> list[bool]:
    """Record each outcome in the caller's transaction; True where it was recorded, False
    where its attempt no longer held the claim (another took the share over).

    `traces`: each share's trace context (by share id), carried by the event it implies; a
    batch holds the attempts of many shares, each in a trace of its own. A message of
    published shares carries the trace of its first.

    `published_per_message`: published shares one event message carries at most; 1 sends the
    one-share `SharePublished` of earlier releases."""
    if not 1 <= published_per_message <= MAX_EVENTS_PER_MESSAGE:
        raise ValueError(f"published_per_message must be 1 to {MAX_EVENTS_PER_MESSAGE}")
    recorded: set[uuid.UUID] = set()
    published = [o for o in outcomes if isinstance(o, Published)]
    if published:
        rows = await session.execute(
            _PUBLISHED,
            {
                "ids": [o.claim.share_id for o in published],
                "tokens": [o.claim.token for o in published],
                "remote_ids": [o.remote_id for o in published],
                "urls": [o.url for o in published],
            },
        )
        at: dict[uuid.UUID, datetime] = {row.id: row.published_at for row in rows}
        recorded.update(at)
        now_published = [o for o in published if o.claim.share_id in at]
        messages, message_traces = _published_messages(
            [
                SharePublished(
                    share_id=o.claim.share_id,
                    org_id=o.claim.org_id,
                    campaign_id=o.claim.campaign_id,
                    account_id=o.claim.account_id,
                    network=o.claim.network,
                    remote_id=o.remote_id,
                    published_at=at[o.claim.share_id],
                    observed=o.observed,
                )
                for o in now_published
            ],
            _traces(traces, now_published),
            published_per_message,
        )
        await add_events(session, messages, traceparents=message_traces)
    ended = [o for o in outcomes if isinstance(o, Failed | Cancelled)]
    if ended:
        ids = set(
            await session.scalars(
                _FAILED,
                {
                    "ids": [o.claim.share_id for o in ended],
                    "tokens": [o.claim.token for o in ended],
                    "statuses": ["failed" if isinstance(o, Failed) else "cancelled" for o in ended],
                    "reasons": [_reason(o.reason) for o in ended],
                    "spent": [o.spent if isinstance(o, Failed) else 0 for o in ended],
                },
            )
        )
        recorded.update(ids)
        await add_events(
            session,
            [
                ShareFailed(
                    share_id=o.claim.share_id,
                    org_id=o.claim.org_id,
                    campaign_id=o.claim.campaign_id,
                    network=o.claim.network,
                    reason=_reason(o.reason),
                )
                for o in ended
                if isinstance(o, Failed) and o.claim.share_id in ids
            ],
            traceparents=_traces(
                traces, [o for o in ended if isinstance(o, Failed) and o.claim.share_id in ids]
            ),
        )
    manual = [o for o in outcomes if isinstance(o, Manual)]
    if manual:
        recorded.update(
            await session.scalars(
                _MANUAL,
                {
                    "ids": [o.claim.share_id for o in manual],
                    "tokens": [o.claim.token for o in manual],
                    "links": [o.link for o in manual],
                    "reasons": [_reason(o.reason) for o in manual],
                },
            )
        )
    delayed = [o for o in outcomes if isinstance(o, Delayed)]
    if delayed:
        recorded.update(
            await session.scalars(
                _DELAYED,
                {
                    "ids": [o.claim.share_id for o in delayed],
                    "tokens": [o.claim.token for o in delayed],
                    "untils": [o.until for o in delayed],
                    "reasons": [_reason(o.reason) for o in delayed],
                    "spent": [o.spent for o in delayed],
                    "waited": [int(o.rate_limited) for o in delayed],
                },
            )
        )
    await settle_campaigns(
        session,
        {
            o.claim.campaign_id
            for o in outcomes
            if not isinstance(o, Delayed) and o.claim.share_id in recorded
        },
    )
    return [o.claim.share_id in recorded for o in outcomes]
