"""What the colleague's page shows: each network and its account, and the shares still open to
the colleague's say, each rendered as its network will show it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import ShareStatus
from chorus.common.models import Account, Campaign, Share
from chorus.networks import Content, Image, NetworkSpec, RenderedPost, specs

__all__ = ["RENEW_WITHIN", "NetworkRow", "PendingShare", "content_of", "networks", "pending"]

# Consent that runs out is offered for renewal this long before.
RENEW_WITHIN = timedelta(days=30)
PENDING_LIMIT = 50


@dataclass(frozen=True, slots=True)
class NetworkRow:
    spec: NetworkSpec
    account: Account | None
    # connected, needs_reauth or not_connected.
    state: str
    renew: bool


@dataclass(frozen=True, slots=True)
class PendingShare:
    share: Share
    campaign: Campaign
    spec: NetworkSpec
    post: RenderedPost
    text: str


async def networks(
    *, session: AsyncSession, org_id: uuid.UUID, ambassador_id: uuid.UUID, now: datetime
) -> list[NetworkRow]:
    """Every network Chorus posts to, with the colleague's account there, live ones first."""
    accounts = await session.scalars(
        select(Account)
        .where(Account.org_id == org_id, Account.ambassador_id == ambassador_id)
        .order_by(Account.updated_at)
    )
    best: dict[str, Account] = {}
    rank = {"connected": 2, "needs_reauth": 1, "revoked": 0}
    for account in accounts:
        held = best.get(account.network)
        if held is None or rank[account.status] >= rank[held.status]:
            best[account.network] = account
    rows = []
    for network, spec in sorted(specs().items(), key=lambda item: item[1].label):
        row_account = best.get(network.value)
        state = "not_connected"
        if row_account is not None and row_account.status in ("connected", "needs_reauth"):
            state = row_account.status
        expires = row_account.consent_expires_at if row_account is not None else None
        renew = state == "connected" and expires is not None and expires - now <= RENEW_WITHIN
        rows.append(NetworkRow(spec=spec, account=row_account, state=state, renew=renew))
    return rows


def content_of(campaign: Campaign, text: str | None) -> Content:
    return Content(
        message=campaign.message if text is None else text,
        url=campaign.url,
        title=campaign.title,
        description=campaign.description,
        images=tuple(Image(url=i.get("url", ""), alt=i.get("alt", "")) for i in campaign.images),
    )


def pending_query(
    *, org_id: uuid.UUID, ambassador_id: uuid.UUID
) -> Select[Share, Campaign, uuid.UUID]:
    """Through the colleague's accounts: `shares` is read by `account_id`, never by the
    organisation (migration 0018)."""
    return (
        select(Share, Campaign, Account.ambassador_id)
        .join(Campaign, Campaign.id == Share.campaign_id)
        .join(Account, Account.id == Share.account_id)
        .where(Share.org_id == org_id, Account.org_id == org_id)
        .where(Account.ambassador_id == ambassador_id)
        .where(Share.status.in_([ShareStatus.AWAITING_REVIEW, ShareStatus.PLANNED]))
        .order_by(Share.planned_at, Share.id)
        .limit(PENDING_LIMIT)
    )


async def pending(
    *, session: AsyncSession, org_id: uuid.UUID, ambassador_id: uuid.UUID
) -> list[PendingShare]:
    """The colleague's shares not yet released, soonest first."""
    rows = await session.execute(pending_query(org_id=org_id, ambassador_id=ambassador_id))
    found = []
    all_specs = specs()
    for share, campaign, _ in rows:
        spec = next(s for n, s in all_specs.items() if n.value == share.network)
        text = share.text_override if share.text_override is not None else campaign.message
        post = spec.render(content_of(campaign, text))
        found.append(PendingShare(share=share, campaign=campaign, spec=spec, post=post, text=text))
    return found
