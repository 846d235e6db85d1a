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
from chorus.gateway.campaign_window import audience_column, audience_out, window_out
from chorus.gateway.preview_schemas import NetworkPreview, VariantIn
from chorus.gateway.previews import CampaignContent, previews
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import CampaignIn, CampaignOut, NetworkReach, ShareCounts
from chorus.networks import Image

__all__ = ["campaign_report", "create_campaign", "share_counts"]


def _fingerprint(body: CampaignIn) -> str:
    # Fields added after campaigns were first stored are left out while at their defaults, so
    # a retry of a request from before them keeps its print.
    later: dict[str, object] = {
        "variants": {},
        "window": "now",
        "audience": "everyone",
        "utm": None,
    }
    exclude = {name for name, default in later.items() if getattr(body, name) == default}
    return hashlib.sha256(body.model_dump_json(exclude=exclude).encode()).hexdigest()


async def create_campaign(
    *, session: AsyncSession, org_id: uuid.UUID, body: CampaignIn, idempotency_key: str | None
) -> tuple[uuid.UUID, bool]:
    """Insert the campaign and its CampaignCreated event; returns (id, created).

    With an Idempotency-Key, a retry of the same request returns the first campaign; the same
    key with a different body is refused (IETF idempotency-key draft). `body` has passed
    `preview_campaign` (the route checks it before it takes a connection).
    """
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
            variants={n.value: v.model_dump() for n, v in body.variants.items()},
            utm=body.utm.model_dump() if body.utm else None,
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            audience=audience_column(body.audience),
            **(
                {}
                if isinstance(body.window, str)
                else {"starts_at": body.window.starts_at, "ends_at": body.window.ends_at}
            ),
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
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    preview: dict[Network, NetworkPreview] | None = None,
) -> CampaignOut:
    """The campaign as the API shows it; `preview` where it was just rendered (creating)."""
    campaign = await session.scalar(
        select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    )
    if campaign is None:
        raise Problem(404, "No such campaign for this organisation.")
    networks = [Network(n) for n in campaign.networks]
    variants = {
        Network(n): str(v.get("message", ""))
        for n, v in (campaign.variants or {}).items()
        if isinstance(v, dict)
    }
    content = CampaignContent(
        title=campaign.title,
        url=campaign.url,
        message=campaign.message,
        description=campaign.description,
        images=tuple(Image(url=i.get("url", ""), alt=i.get("alt", "")) for i in campaign.images),
        networks=networks,
        variants=variants,
    )
    counts = await share_counts(session=session, org_id=org_id, campaigns={campaign.id: networks})
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        url=campaign.url,
        message=campaign.message,
        networks=networks,
        variants={n: VariantIn(message=m) for n, m in variants.items()},
        preview=previews(content)[0] if preview is None else preview,
        status=CampaignStatus(campaign.status),
        created_at=campaign.created_at,
        completed_at=campaign.completed_at,
        cancelled_at=campaign.cancelled_at,
        window=window_out(campaign.starts_at, campaign.ends_at),
        audience=audience_out(campaign.audience),
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
