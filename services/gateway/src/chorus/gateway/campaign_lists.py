"""The organisation's campaigns and a campaign's shares, listed a page at a time by keyset:
campaigns newest first by (created_at, id), shares by account (the (campaign_id, account_id)
unique index, one share per account), so a page costs the same at the millionth share."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import CampaignStatus, Network, ShareStatus
from chorus.common.models import Account, Ambassador, Campaign, Share
from chorus.gateway.campaign_schemas import (
    CampaignPage,
    CampaignSummary,
    Colleague,
    ShareOut,
    SharePage,
)
from chorus.gateway.campaigns import share_counts
from chorus.gateway.paging import decode_cursor, encode_cursor
from chorus.gateway.problems import Problem

__all__ = ["list_campaigns", "list_shares"]


def _campaign_key(key: list[str]) -> tuple[datetime, uuid.UUID]:
    at, campaign_id = key
    parsed = datetime.fromisoformat(at)
    if parsed.tzinfo is None:
        raise ValueError(at)
    return parsed, uuid.UUID(campaign_id)


def _share_key(key: list[str]) -> uuid.UUID:
    (account_id,) = key
    return uuid.UUID(account_id)


async def list_campaigns(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    statuses: Sequence[CampaignStatus],
    network: Network | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> CampaignPage:
    query = select(Campaign).where(Campaign.org_id == org_id)
    if statuses:
        query = query.where(Campaign.status.in_([s.value for s in statuses]))
    if network is not None:
        query = query.where(Campaign.networks.contains([network.value]))
    if created_from is not None:
        query = query.where(Campaign.created_at >= created_from)
    if created_to is not None:
        query = query.where(Campaign.created_at < created_to)
    if cursor is not None:
        at, after = decode_cursor(cursor, _campaign_key)
        query = query.where(tuple_(Campaign.created_at, Campaign.id) < tuple_(at, after))
    query = query.order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    page, more = rows[:limit], len(rows) > limit
    networks = {c.id: [Network(n) for n in c.networks] for c in page}
    counts = await share_counts(session=session, org_id=org_id, campaigns=networks)
    last = page[-1] if page else None
    return CampaignPage(
        items=[
            CampaignSummary(
                id=c.id,
                title=c.title,
                url=c.url,
                networks=networks[c.id],
                status=CampaignStatus(c.status),
                created_at=c.created_at,
                completed_at=c.completed_at,
                cancelled_at=c.cancelled_at,
                shares=counts[c.id],
            )
            for c in page
        ],
        next_cursor=(
            encode_cursor([last.created_at.isoformat(), str(last.id)])
            if more and last is not None
            else None
        ),
    )


# A share's reason is shown where it explains its outcome, not a planned share's last delay.
_EXPLAINED = {ShareStatus.FAILED, ShareStatus.SKIPPED, ShareStatus.CANCELLED, ShareStatus.MANUAL}


async def list_shares(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    statuses: Sequence[ShareStatus],
    network: Network | None,
    limit: int,
    cursor: str | None,
) -> SharePage:
    known = await session.scalar(
        select(Campaign.id).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    )
    if known is None:
        raise Problem(404, "No such campaign for this organisation.")
    query = (
        select(Share, Account.handle, Ambassador.external_id, Ambassador.display_name)
        .join(Account, Account.id == Share.account_id)
        .join(Ambassador, Ambassador.id == Account.ambassador_id)
        .where(Share.campaign_id == campaign_id, Share.org_id == org_id)
    )
    if statuses:
        query = query.where(Share.status.in_([s.value for s in statuses]))
    if network is not None:
        query = query.where(Share.network == network.value)
    if cursor is not None:
        after = decode_cursor(cursor, _share_key)
        query = query.where(Share.account_id > after)
    rows = (await session.execute(query.order_by(Share.account_id).limit(limit + 1))).all()
    page, more = rows[:limit], len(rows) > limit
    items = []
    for share, handle, external_id, name in page:
        status = ShareStatus(share.status)
        items.append(
            ShareOut(
                id=share.id,
                colleague=Colleague(external_id=external_id, name=name),
                network=Network(share.network),
                handle=handle,
                status=status,
                planned_at=share.planned_at,
                published_at=share.published_at,
                post_url=share.remote_url if status is ShareStatus.PUBLISHED else None,
                share_link=share.remote_url if status is ShareStatus.MANUAL else None,
                reason=share.reason if status in _EXPLAINED else None,
            )
        )
    return SharePage(
        items=items,
        next_cursor=encode_cursor([str(page[-1][0].account_id)]) if more and page else None,
    )
