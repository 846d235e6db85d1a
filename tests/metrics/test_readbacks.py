"""Read-backs scheduled on SharePublished, collected from the network, served as gauges."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from chorus.common.credentials import CredentialsBox
from chorus.common.db import Database
from chorus.common.messages import SharePublished, ShareRequested
from chorus.common.models import MetricReadback, MetricSample, OutboxEvent
from chorus.common.networks import Network
from chorus.common.networks.mastodon import MastodonClient
from chorus.common.wakeup import Wakeup
from chorus.metrics.collector import Collector
from chorus.metrics.gauges import refresh_reach_gauges
from chorus.metrics.handlers import MetricsHandlers
from chorus.netsim import SimState
from chorus.publisher.handlers import PublisherHandlers
from tests.factories import Org, share_rows, stage_campaign

pytestmark = pytest.mark.integration


async def _published(
    db: Database, org: Org, box: CredentialsBox, sim: httpx.AsyncClient, n: int
) -> list[SharePublished]:
    """Publish `n` shares through the real handlers; returns their SharePublished events."""
    campaign_id = await stage_campaign(db, org=org, box=box, sim=sim, count=n, followers=50)
    publisher = PublisherHandlers(db=db, client=MastodonClient(http=sim), credentials=box)
    for share in await share_rows(db, campaign_id):
        await publisher.share_requested(
            ShareRequested(share_id=share.id, org_id=org.id, network=Network.MASTODON)
        )
    async with db.sessions() as session:
        payloads = await session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.message_type == "SharePublished")
        )
        return [SharePublished.model_validate(p) for p in payloads]


def _collector(db: Database, sim: httpx.AsyncClient, box: CredentialsBox) -> Collector:
    return Collector(
        db=db,
        clients={Network.MASTODON: MastodonClient(http=sim)},
        credentials=box,
        wakeup=Wakeup("postgresql://unused", "unused"),
        batch_size=100,
        max_attempts=3,
        poll_seconds=1.0,
    )


async def test_published_share_is_read_back_now_and_later(
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    events = await _published(clean_db, org, credentials, sim_http, 3)
    for post in sim_state.posts.values():
        post.likes, post.reshares = 5, 1
    handlers = MetricsHandlers(db=clean_db, readback_after=(0, 3600, 86400), poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
        await handlers.share_published(event)  # redelivered: nothing more scheduled
    async with clean_db.sessions() as session:
        due_times = list(await session.scalars(select(MetricReadback.due_at)))
    assert len(due_times) == 9
    assert await _collector(clean_db, sim_http, credentials).collect_once() == 3  # only the due
    async with clean_db.sessions() as session:
        samples = list(await session.scalars(select(MetricSample)))
    assert len(samples) == 3
    assert {(s.likes, s.reshares, s.followers, s.impressions) for s in samples} == {
        (5, 1, 50, None)
    }
    assert all(s.taken_at <= datetime.now(UTC) for s in samples)


async def test_gauges_leave_out_what_the_network_does_not_report(
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
) -> None:
    events = await _published(clean_db, org, credentials, sim_http, 2)
    handlers = MetricsHandlers(db=clean_db, readback_after=(0,), poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    await _collector(clean_db, sim_http, credentials).collect_once()
    await refresh_reach_gauges(clean_db)
    labels = {"org_id": str(org.id), "network": "mastodon"}
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "followers"}) == 100
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "likes"}) == 0
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "impressions"}) is None


async def test_unreachable_network_retries_the_readback_later(
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    [event] = await _published(clean_db, org, credentials, sim_http, 1)
    await MetricsHandlers(db=clean_db, readback_after=(0,), poke=lambda: None).share_published(
        event
    )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as broken:
        assert await _collector(clean_db, broken, credentials).collect_once() == 1
    async with clean_db.sessions() as session:
        row = (
            await session.execute(
                text("SELECT attempts, done_at, due_at > now() AS later FROM metric_readbacks")
            )
        ).one()
        samples = await session.scalar(text("SELECT count(*) FROM metric_samples"))
    assert (row.attempts, row.done_at, row.later, samples) == (1, None, True, 0)
