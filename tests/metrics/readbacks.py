"""Shares published through the real publisher, and their read-backs made due: what the
collector's tests start from."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import PublishedShares, SharePublished, ShareRequested
from chorus.common.models import OutboxEvent
from chorus.networks.mastodon import SPEC, MastodonClient
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from tests.factories import Org, share_rows, stage_campaign

__all__ = ["make_due", "published"]


async def published(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient, net: NetworkHttp, n: int
) -> list[SharePublished]:
    """Publish `n` shares through the real handlers; returns their SharePublished events."""
    campaign_id = await stage_campaign(db, org=org, keyring=keyring, sim=sim, count=n, followers=50)
    publisher = PublisherHandlers(
        db=db,
        spec=SPEC,
        client=MastodonClient(net),
        keyring=keyring,
        claim_lease=timedelta(minutes=1),
        attempt_deadline=timedelta(seconds=30),
        images=ImageFetcher(net, max_bytes=SPEC.max_image_bytes),
    )
    for share in await share_rows(db, campaign_id):
        await publisher.share_requested(
            ShareRequested(share_id=share.id, org_id=org.id, network=Network.MASTODON)
        )
    async with db.sessions() as session:
        payloads = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.routing_key == SharePublished.ROUTING_KEY)
        )
        return [
            event
            for payload in payloads
            for event in PublishedShares.model_validate(payload).events()
            if event.org_id == org.id
        ]


async def make_due(db: Database) -> None:
    async with db.sessions.begin() as session:
        # Earlier by the same amount each: due now, and still one per share and time.
        await session.execute(
            text("UPDATE metric_readbacks SET due_at = due_at - interval '30 days'")
        )
