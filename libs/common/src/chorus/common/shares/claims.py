"""Claiming shares for an attempt: the intent is recorded before any network call.

A claim is a lease with a token. Until `lease_until` the share belongs to the attempt holding
the token; past it (the attempt died), a redelivery or the sweeper takes it over with a new
token, and whatever the old holder writes afterwards is ignored. Attempts are bounded well inside
the lease, so two never run at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.kinds import CampaignStatus, Network, ShareStatus
from chorus.common.ratelimits import HoldQuery, active_holds

__all__ = ["Claim", "ClaimedShare", "claim_many", "still_wanted"]


@dataclass(frozen=True, slots=True)
class Claim:
    """Which share, and the token that proves this attempt still holds it."""

    share_id: uuid.UUID
    org_id: uuid.UUID
    campaign_id: uuid.UUID
    account_id: uuid.UUID
    network: Network
    token: uuid.UUID


@dataclass(frozen=True, slots=True)
class ClaimedShare:
    """A claimed share with what an attempt needs: the campaign's content and the account."""

    claim: Claim
    idempotency_key: str
    attempts: int
    rate_waits: int
    title: str
    # The colleague's own edit, else the campaign's variant for this network, else its message.
    message: str
    url: str
    handle: str
    base_url: str
    remote_account_id: str | None
    sealed_credentials: bytes
    account_connected: bool
    # connected, needs_reauth or revoked; and why, where the network refused it.
    account_status: str
    account_status_reason: str | None
    account_kind: str
    description: str
    # (url, alt) of each campaign image.
    images: tuple[tuple[str, str], ...]
    # Fixed before the share was staged: with the share's id, it names the share's record
    # where the network lets us choose (Bluesky's record key).
    campaign_created_at: datetime
    # When a request for this share may first have left, and whether that was before this
    # claim (a retry: the post may already exist).
    first_attempt_at: datetime
    attempted_before: bool
    # Until when, and why, the network said this account (or the whole app) must wait, as
    # read in the claim's transaction; None if it need not.
    held: tuple[datetime, str] | None = None


_CLAIM = text(
    """
    UPDATE shares s SET status = 'publishing', updated_at = now(),
        first_attempt_at = COALESCE(s.first_attempt_at, now()),
        claim_token = gen_random_uuid(),
        lease_until = now() + CAST(:lease AS interval)
    FROM accounts a, campaigns c,
         unnest(CAST(:ids AS uuid[]), CAST(:orgs AS uuid[])) AS r(id, org_id)
    WHERE s.id = r.id AND s.org_id = r.org_id
      AND a.id = s.account_id AND c.id = s.campaign_id
      AND (s.status = 'queued'
           OR (s.status = 'publishing' AND s.lease_until < now())
           OR (s.status = 'planned' AND s.planned_at <= now()))
    RETURNING s.id, s.org_id, s.campaign_id, s.account_id, s.network, s.claim_token,
              s.idempotency_key, s.attempts, s.rate_waits, c.title,
              -- The colleague's own edit, else the campaign's variant for this network (as
              -- its preview showed it), else the campaign's message.
              COALESCE(s.text_override, c.variants -> s.network ->> 'message', c.message)
                  AS message,
              c.url,
              a.handle, a.base_url, a.remote_account_id, a.credentials,
              a.status = 'connected' AS account_connected, a.status AS account_status,
              a.status_reason, a.kind, c.description, c.images, c.created_at AS campaign_created_at,
              s.first_attempt_at, s.first_attempt_at < now() AS attempted_before
    """
)


async def claim_many(
    *, session: Executor, requests: Sequence[tuple[uuid.UUID, uuid.UUID]], lease: timedelta
) -> list[ClaimedShare | None]:
    """Claim (share id, organisation id) pairs for `lease`. None where there is nothing to do
    now: an outcome already, delayed until later, or held by a live attempt (if that attempt
    dies, its lease runs out and the sweeper plans the share again, so no message is needed)."""
    rows = (
        await session.execute(
            _CLAIM,
            {"ids": [r[0] for r in requests], "orgs": [r[1] for r in requests], "lease": lease},
        )
    ).all()
    # The rate holds are read with the claim: one transaction, not one more per attempt.
    queries = [HoldQuery(Network(row.network), row.account_id) for row in rows]
    holds = await active_holds(session=session, queries=queries)
    claimed = {
        row.id: ClaimedShare(
            claim=Claim(
                share_id=row.id,
                org_id=row.org_id,
                campaign_id=row.campaign_id,
                account_id=row.account_id,
                network=Network(row.network),
                token=row.claim_token,
            ),
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            rate_waits=row.rate_waits,
            title=row.title,
            message=row.message,
            url=row.url,
            handle=row.handle,
            base_url=row.base_url,
            remote_account_id=row.remote_account_id,
            sealed_credentials=row.credentials,
            account_connected=row.account_connected,
            account_status=row.account_status,
            account_status_reason=row.status_reason,
            account_kind=row.kind,
            description=row.description,
            images=tuple(
                (str(i.get("url", "")), str(i.get("alt", "")))
                for i in (row.images or [])
                if isinstance(i, dict)
            ),
            campaign_created_at=row.campaign_created_at,
            first_attempt_at=row.first_attempt_at,
            attempted_before=row.attempted_before,
            held=held,
        )
        for row, held in zip(rows, holds, strict=True)
    }
    # A share asked for twice in one batch (two deliveries of it at once: a redelivered
    # message and the one released again after the sweep, say) is one row updated once: only
    # the first asker gets the claim, or both would post it, each believing it the first try.
    handed: set[uuid.UUID] = set()
    answers: list[ClaimedShare | None] = []
    for share_id, _ in requests:
        answers.append(None if share_id in handed else claimed.get(share_id))
        handed.add(share_id)
    return answers


_WANTED = text(
    """
    SELECT s.id, a.status = 'connected' AS connected, c.status <> :cancelled AS campaign_live,
           COALESCE(a.consent_expires_at > now(), true) AS consented
    FROM shares s
    JOIN unnest(CAST(:ids AS uuid[]), CAST(:tokens AS uuid[])) AS r(id, token)
      ON s.id = r.id AND s.claim_token = r.token
    JOIN accounts a ON a.id = s.account_id
    JOIN campaigns c ON c.id = s.campaign_id
    WHERE s.status = :publishing AND s.lease_until > now()
    """
)


async def still_wanted(*, session: Executor, claims: Sequence[Claim]) -> list[str | None]:
    """Asked just before the network call: for each claim, None if the post should go out, or
    why not ("consent withdrawn", "campaign cancelled", "consent expired", "claim lost")."""
    rows = await session.execute(
        _WANTED,
        {
            "ids": [c.share_id for c in claims],
            "tokens": [c.token for c in claims],
            "cancelled": CampaignStatus.CANCELLED.value,
            "publishing": ShareStatus.PUBLISHING.value,
        },
    )
    found = {row.id: row for row in rows}

    def verdict(claim: Claim) -> str | None:
        row = found.get(claim.share_id)
        if row is None:
            return "claim lost"
        if not row.connected:
            return "consent withdrawn: the account was disconnected"
        if not row.campaign_live:
            return "the campaign was cancelled"
        if not row.consented:
            # Released just before it ran out: the scheduler skips those it still holds.
            return "consent expired"
        return None

    return [verdict(c) for c in claims]
