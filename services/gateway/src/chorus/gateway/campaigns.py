"""Creating campaigns (with their outbox event, in one transaction) and reporting on them."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.messages import CampaignCreated
from chorus.common.models import Campaign, MetricSample, Share
from chorus.common.networks import PUBLISHABLE, text_problems
from chorus.common.outbox import add_events
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import CampaignIn, CampaignOut, NetworkReach, ShareCounts

__all__ = ["campaign_report", "create_campaign", "validate_campaign"]


def validate_campaign(body: CampaignIn) -> None:
    """Refuse now what a network would refuse later."""
    unsupported = sorted(n.value for n in body.networks if n not in PUBLISHABLE)
    if unsupported:
        raise Problem(
            422,
            f"Chorus cannot post to {', '.join(unsupported)} yet.",
            errors=[
                {"location": ["body", "networks"], "message": f"not supported: {n}"}
                for n in unsupported
            ],
        )
    problems = [
        p
        for network in body.networks
        for p in text_problems(network=network, message=body.message, url=str(body.url))
    ]
    if problems:
        raise Problem(
            422,
            "The message does not fit every network it is meant for.",
            errors=[{"location": ["body", "message"], "message": p} for p in problems],
        )


def _fingerprint(body: CampaignIn) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


async def create_campaign(
    *, session: AsyncSession, org_id: uuid.UUID, body: CampaignIn, idempotency_key: str | None
) -> tuple[uuid.UUID, bool]:
    """Insert the campaign and its CampaignCreated event; returns (id, created).

    With an Idempotency-Key, a retry of the same request returns the first campaign; the same
    key with a different body is refused (IETF idempotency-key draft).
    """
    validate_campaign(body)
    fingerprint = _fingerprint(body)
    inserted = await session.scalar(
        insert(Campaign)
        .values(
            org_id=org_id,
            title=body.title,
            url=str(body.url),
            message=body.message,
            networks=[n.value for n in body.networks],
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "idempotency_key"])
        .returning(Campaign.id)
    )
    if inserted is not None:
        await add_events(session, [CampaignCreated(campaign_id=inserted, org_id=org_id)])
        return inserted, True
    existing = (
        await session.execute(
            select(Campaign.id, Campaign.request_hash).where(
                Campaign.org_id == org_id, Campaign.idempotency_key == idempotency_key
            )
        )
    ).one()
    if existing.request_hash != fingerprint:
        raise Problem(422, "This Idempotency-Key was already used for a different request body.")
    return existing.id, False


async def campaign_report(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignOut:
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    )
    if campaign is None:
        raise Problem(404, "No such campaign for this organisation.")
    counts = await session.execute(
        select(Share.network, Share.status, func.count())
        .where(Share.campaign_id == campaign_id, Share.org_id == org_id)
        .group_by(Share.network, Share.status)
    )
    by_status: dict[str, int] = defaultdict(int)
    by_network: dict[str, dict[str, int]] = defaultdict(dict)
    for network, status, n in counts:
        by_status[status] += n
        by_network[network][status] = n
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        url=campaign.url,
        message=campaign.message,
        networks=campaign.networks,
        status=_status(campaign.status, by_status),
        created_at=campaign.created_at,
        shares=ShareCounts(
            total=sum(by_status.values()), by_status=by_status, by_network=by_network
        ),
        reach=await _reach(session=session, org_id=org_id, campaign_id=campaign_id),
    )


# Shares in these states may still be posted; any other state is an outcome.
_OPEN_SHARE_STATES = frozenset({"planned", "queued", "publishing"})


def _status(stored: str, by_status: dict[str, int]) -> str:
    """`completed` once the scheduler has staged the campaign and every share has an outcome:
    what the CMS polls for. Derived on read, so no service has to notice the last share."""
    if stored == "scheduled" and not _OPEN_SHARE_STATES & by_status.keys():
        return "completed"
    return stored


async def _reach(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> dict[str, NetworkReach]:
    latest = (
        select(MetricSample)
        .where(MetricSample.campaign_id == campaign_id, MetricSample.org_id == org_id)
        .order_by(MetricSample.share_id, MetricSample.taken_at.desc())
        .ext(distinct_on(MetricSample.share_id))
        .subquery()
    )
    # SUM over only NULLs is NULL: a metric the network never reports stays "not available".
    rows = await session.execute(
        select(
            latest.c.network,
            func.count(),
            func.sum(latest.c.followers),
            func.sum(latest.c.reshares),
            func.sum(latest.c.likes),
            func.sum(latest.c.replies),
            func.sum(latest.c.impressions),
        ).group_by(latest.c.network)
    )
    return {
        network: NetworkReach(
            shares_measured=n,
            potential_reach=_int(followers),
            reshares=_int(reshares),
            likes=_int(likes),
            replies=_int(replies),
            impressions=_int(impressions),
        )
        for network, n, followers, reshares, likes, replies, impressions in rows
    }


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
