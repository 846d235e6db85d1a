"""The first sample comes with the post's answer; later read-backs are read in batches per
server; gauges are served from the samples."""

from __future__ import annotations

from datetime import timedelta

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

LATER = (3600, 86400)


async def _published(
    db: Database, org: Org, box: CredentialsBox, sim: httpx.AsyncClient, n: int
) -> list[SharePublished]:
    """Publish `n` shares through the real handlers; returns their SharePublished events."""
    campaign_id = await stage_campaign(db, org=org, box=box, sim=sim, count=n, followers=50)
    publisher = PublisherHandlers(
        db=db, client=MastodonClient(http=sim), credentials=box, claim_lease=timedelta(minutes=1)
    )
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
        wakeup=Wakeup(None, "readbacks"),
        batch_size=500,
        max_attempts=3,
        poll_seconds=1.0,
    )


async def _samples(db: Database) -> list[MetricSample]:
    async with db.sessions() as session:
        return list(await session.scalars(select(MetricSample).order_by(MetricSample.taken_at)))


async def _make_due(db: Database) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text("UPDATE metric_readbacks SET due_at = now()"))


async def test_first_sample_comes_with_the_post_and_costs_no_request(
    clean_db: Database, org: Org, credentials: CredentialsBox, sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:  # fmt: skip
    events = await _published(clean_db, org, credentials, sim_http, 3)
    assert all(e.observed is not None and e.observed.followers == 50 for e in events)
    reads_before = dict(sim_state.requests)
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
        await handlers.share_published(event)  # redelivered: nothing more
    samples = await _samples(clean_db)
    assert [(s.followers, s.likes, s.reshares, s.impressions) for s in samples] == [
        (50, 0, 0, None)
    ] * 3
    async with clean_db.sessions() as session:
        readbacks = list(await session.scalars(select(MetricReadback)))
    assert len(readbacks) == 3 * len(LATER)
    assert await _collector(clean_db, sim_http, credentials).collect_once() == 0  # none due
    assert dict(sim_state.requests) == reads_before


async def test_later_readbacks_read_many_posts_per_request(
    clean_db: Database, org: Org, credentials: CredentialsBox, sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:  # fmt: skip
    events = await _published(clean_db, org, credentials, sim_http, 45)
    handlers = MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    for post in sim_state.posts.values():
        post.likes, post.reshares = 5, 1
    for account in sim_state.accounts.values():
        account.followers = 70
    await _make_due(clean_db)
    assert await _collector(clean_db, sim_http, credentials).collect_once() == 45
    latest = [s for s in await _samples(clean_db) if s.likes == 5]
    assert len(latest) == 45
    assert {(s.reshares, s.followers, s.impressions) for s in latest} == {(1, 70, None)}
    # 45 posts of one server: three batch reads of up to 20, no per-account requests.
    assert sim_state.requests["mastodon.get_statuses"] == 3
    assert sim_state.requests["mastodon.verify_credentials"] == 0


async def test_answer_without_counts_is_read_back_at_once(
    clean_db: Database, org: Org, credentials: CredentialsBox, sim_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    [event] = await _published(clean_db, org, credentials, sim_http, 1)
    bare = event.model_copy(update={"observed": None})
    woken: list[bool] = []
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: woken.append(True))
    await handlers.share_published(bare)
    assert woken == [True]
    assert await _collector(clean_db, sim_http, credentials).collect_once() == 1
    [sample] = await _samples(clean_db)
    assert (sample.followers, sample.likes) == (50, 0)


async def test_gauges_leave_out_what_the_network_does_not_report(
    clean_db: Database, org: Org, credentials: CredentialsBox, sim_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    events = await _published(clean_db, org, credentials, sim_http, 2)
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    await refresh_reach_gauges(clean_db)
    labels = {"org_id": str(org.id), "network": "mastodon"}
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "followers"}) == 100
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "likes"}) == 0
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "impressions"}) is None


async def test_unreachable_network_retries_the_readback_later(
    clean_db: Database, org: Org, credentials: CredentialsBox, sim_http: httpx.AsyncClient,
) -> None:  # fmt: skip
    [event] = await _published(clean_db, org, credentials, sim_http, 1)
    handlers = MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None)
    await handlers.share_published(event)
    await _make_due(clean_db)

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
    assert (row.attempts, row.done_at, row.later) == (1, None, True)
    assert len(await _samples(clean_db)) == 1  # only the one that came with the post
