"""Creating campaigns (with their outbox event, in one transaction) and reporting on them."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import OPEN_SHARE_STATUSES, CampaignStatus, Network, ShareStatus
from chorus.common.messages import CampaignCreated
from chorus.common.models import Campaign, LatestMetrics, Share
from chorus.common.outbox import add_events
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import CampaignIn, CampaignOut, NetworkReach, ShareCounts
from chorus.networks import Content, Image, spec_for

__all__ = ["campaign_report", "create_campaign", "share_counts", "validate_campaign"]


def validate_campaign(body: CampaignIn) -> None:
    """Refuse now what a network would refuse later, with the same rendering the publisher
    uses, so a post that cannot go out never fails hours later."""
    content = Content(
        message=body.message,
        url=str(body.url),
        title=body.title,
        description=body.description,
        images=tuple(Image(url=str(i.url), alt=i.alt) for i in body.images),
    )
    problems = [p for network in body.networks for p in spec_for(network).problems(content)]
    for network in body.networks:
        spec = spec_for(network)
        if len(body.images) > spec.max_images:
            problems.append(f"{network.value}: at most {spec.max_images} images per post")
    if problems:
        raise Problem(
            422,
            "The message does not fit every network it is meant for.",
            errors=[{"location": ["body", "message"], "message": p} for p in problems],
        )


def _fingerprint(body: CampaignIn) -> str:
    # Fields left out (None) are not in it: a request from before they existed keeps its print.
    return hashlib.sha256(body.model_dump_json(exclude_none=True).encode()).hexdigest()


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
            description=body.description,
            images=[{"url": str(i.url), "alt": i.alt} for i in body.images],
            utm=body.utm.model_dump() if body.utm else None,
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
    networks = [Network(n) for n in campaign.networks]
    counts = await share_counts(session=session, org_id=org_id, campaigns={campaign.id: networks})
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        url=campaign.url,
        message=campaign.message,
        networks=networks,
        status=CampaignStatus(campaign.status),
        created_at=campaign.created_at,
        completed_at=campaign.completed_at,
        shares=counts[campaign.id],
        reach=await _reach(session=session, org_id=org_id, campaign_id=campaign_id),
    )


async def share_counts(
    *, session: AsyncSession, org_id: uuid.UUID, campaigns: dict[uuid.UUID, list[Network]]
) -> dict[uuid.UUID, ShareCounts]:
    """Each campaign's shares counted by status, overall and on each of its networks, in
    one grouped query (the (campaign_id, status) index)."""
    rows = await session.execute(
        select(Share.campaign_id, Share.network, Share.status, func.count())
        .where(Share.campaign_id.in_(list(campaigns)), Share.org_id == org_id)
        .group_by(Share.campaign_id, Share.network, Share.status)
    )
    by_network: dict[uuid.UUID, dict[Network, dict[ShareStatus, int]]] = {
        campaign_id: {n: {} for n in networks} for campaign_id, networks in campaigns.items()
    }
    for campaign_id, network, status, n in rows:
        by_network[campaign_id].setdefault(Network(network), {})[ShareStatus(status)] = n
    counts = {}
    for campaign_id, networks in by_network.items():
        by_status: dict[ShareStatus, int] = defaultdict(int)
        for statuses in networks.values():
            for status, n in statuses.items():
                by_status[status] += n
        counts[campaign_id] = ShareCounts(
            total=sum(by_status.values()),
            open=sum(n for s, n in by_status.items() if s in OPEN_SHARE_STATUSES),
            by_status=dict(by_status),
            by_network=networks,
        )
    return counts


async def _reach(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> dict[str, NetworkReach]:
    latest = LatestMetrics
    # SUM over only NULLs is NULL: a metric the network never reports stays "not available".
    rows = await session.execute(
        select(
            latest.network,
            func.count(),
            func.sum(latest.followers),
            func.sum(latest.reshares),
            func.sum(latest.likes),
            func.sum(latest.replies),
            func.sum(latest.impressions),
        )
        .where(latest.campaign_id == campaign_id, latest.org_id == org_id)
        .group_by(latest.network)
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
