"""The first sample comes with the post's answer; later read-backs are read in batches per
server; gauges are served from the samples."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.models import MetricReadback, MetricSample
from chorus.common.wakeup import Wakeup
from chorus.metrics.collector import Collector
from chorus.metrics.gauges import refresh_reach_gauges
from chorus.metrics.handlers import MetricsHandlers
from chorus.metrics.samples import store_samples
from chorus.netsim import SimState
from chorus.networks.mastodon import MastodonClient
from tests.factories import Org, network_http
from tests.metrics.readbacks import make_due, published

pytestmark = pytest.mark.integration

LATER = (3600, 86400)


def _collector(db: Database, net: NetworkHttp, keyring: Keyring) -> Collector:
    return Collector(
        db=db,
        clients={Network.MASTODON: MastodonClient(net)},
        keyring=keyring,
        wakeup=Wakeup(None, "readbacks"),
        batch_size=500,
        max_attempts=3,
        poll_seconds=1.0,
    )


async def _samples(db: Database) -> list[MetricSample]:
    async with db.sessions() as session:
        return list(await session.scalars(select(MetricSample).order_by(MetricSample.taken_at)))


async def test_first_sample_comes_with_the_post_and_costs_no_request(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp, sim_state: SimState,
) -> None:  # fmt: skip
    events = await published(clean_db, org, keyring, sim_http, sim_net, 3)
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
    assert await _collector(clean_db, sim_net, keyring).collect_once() == 0  # none due
    assert dict(sim_state.requests) == reads_before


async def test_a_redelivery_in_the_same_batch_as_its_first_delivery_adds_nothing(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    # Each batch is one statement per table: a share's two copies in one must neither fail it
    # (an upsert may touch a row once per statement) nor count twice.
    events = await published(clean_db, org, keyring, sim_http, sim_net, 2)
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)
    await asyncio.gather(*(handlers.share_published(e) for e in [*events, *events]))
    assert len(await _samples(clean_db)) == 2
    async with clean_db.sessions() as session:
        latest = (await session.execute(text("SELECT count(*) FROM latest_metrics"))).scalar()
        readbacks = list(await session.scalars(select(MetricReadback)))
    assert latest == 2
    assert len(readbacks) == 2 * len(LATER)


async def test_a_batch_mixing_counts_and_none_writes_each_row_once_when_redelivered(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    # The whole batch is one statement: a share with counts gets its sample and its later
    # read-backs; one without gets no sample and a read-back at once besides.
    events = await published(clean_db, org, keyring, sim_http, sim_net, 4)
    batch = [e if i % 2 else e.model_copy(update={"observed": None}) for i, e in enumerate(events)]
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)

    async def written() -> list[set[tuple[object, ...]]]:
        # xmin: the transaction that wrote the row, so a row written over shows.
        queries = (
            "SELECT share_id, taken_at, followers, likes, xmin::text FROM metric_samples",
            "SELECT share_id, taken_at, followers, likes FROM latest_metrics",
            "SELECT share_id, due_at, xmin::text FROM metric_readbacks",
        )
        async with clean_db.sessions() as session:
            return [{tuple(r) for r in (await session.execute(text(q))).all()} for q in queries]

    await asyncio.gather(*(handlers.share_published(e) for e in batch))
    samples, latest, readbacks = await written()
    counted = [e for e in batch if e.observed is not None]
    assert (
        {row[:4] for row in samples}
        == latest
        == {(e.share_id, e.published_at, 50, 0) for e in counted}
    )
    assert {row[:2] for row in readbacks} == {
        (e.share_id, e.published_at + timedelta(seconds=after))
        for e in batch
        for after in (LATER if e.observed is not None else (0, *LATER))
    }
    assert len(readbacks) == 2 * len(LATER) + 2 * (1 + len(LATER))
    # Redelivered, the same batch again: not a row more, and none written over.
    await asyncio.gather(*(handlers.share_published(e) for e in batch))
    again = await written()
    assert (again[0], again[2]) == (samples, readbacks)
    assert again[1] == latest


async def test_the_newest_sample_of_a_share_is_its_latest_whatever_the_order(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    [event] = await published(clean_db, org, keyring, sim_http, sim_net, 1)
    row = {
        "org_id": event.org_id,
        "share_id": event.share_id,
        "campaign_id": event.campaign_id,
        "network": event.network.value,
    }
    now = datetime.now(UTC)
    newer, older = now, now - timedelta(hours=1)
    async with clean_db.engine.begin() as connection:
        # Both in one batch, the newer first; then an older one on its own.
        await store_samples(
            connection,
            [{**row, "taken_at": newer, "likes": 9}, {**row, "taken_at": older, "likes": 1}],
        )
        await store_samples(connection, [{**row, "taken_at": older - timedelta(1), "likes": 0}])
    async with clean_db.sessions() as session:
        latest = (await session.execute(text("SELECT taken_at, likes FROM latest_metrics"))).all()
    assert [tuple(r) for r in latest] == [(newer, 9)]
    assert len(await _samples(clean_db)) == 3


async def test_later_readbacks_read_many_posts_per_request(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp, sim_state: SimState,
) -> None:  # fmt: skip
    events = await published(clean_db, org, keyring, sim_http, sim_net, 45)
    handlers = MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    for post in sim_state.posts.values():
        post.likes, post.reshares = 5, 1
    for account in sim_state.accounts.values():
        account.followers = 70
    await make_due(clean_db)
    assert await _collector(clean_db, sim_net, keyring).collect_once() == 45
    latest = [s for s in await _samples(clean_db) if s.likes == 5]
    assert len(latest) == 45
    assert {(s.reshares, s.followers, s.impressions) for s in latest} == {(1, 70, None)}
    # 45 posts of one server: three batch reads of up to 20, no per-account requests.
    assert sim_state.requests["mastodon.get_statuses"] == 3
    assert sim_state.requests["mastodon.verify_credentials"] == 0


async def test_answer_without_counts_is_read_back_at_once(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    [event] = await published(clean_db, org, keyring, sim_http, sim_net, 1)
    bare = event.model_copy(update={"observed": None})
    woken: list[bool] = []
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: woken.append(True))
    await handlers.share_published(bare)
    assert woken == [True]
    assert await _collector(clean_db, sim_net, keyring).collect_once() == 1
    [sample] = await _samples(clean_db)
    assert (sample.followers, sample.likes) == (50, 0)


async def test_gauges_leave_out_what_the_network_does_not_report(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    events = await published(clean_db, org, keyring, sim_http, sim_net, 2)
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    await refresh_reach_gauges(clean_db)
    labels = {"org_id": str(org.id), "network": "mastodon"}
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "followers"}) == 100
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "likes"}) == 0
    assert REGISTRY.get_sample_value("chorus_reach", {**labels, "kind": "impressions"}) is None


async def test_unreachable_network_retries_the_readback_later(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    [event] = await published(clean_db, org, keyring, sim_http, sim_net, 1)
    handlers = MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None)
    await handlers.share_published(event)
    await make_due(clean_db)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down", request=request)

    broken = network_http(transport=httpx.MockTransport(down))
    assert await _collector(clean_db, broken, keyring).collect_once() == 1
    async with clean_db.sessions() as session:
        row = (
            await session.execute(
                text("SELECT attempts, done_at, due_at > now() AS later FROM metric_readbacks")
            )
        ).one()
    assert (row.attempts, row.done_at, row.later) == (1, None, True)
    assert len(await _samples(clean_db)) == 1  # only the one that came with the post


async def test_readbacks_of_one_share_due_together_are_read_once_and_never_stall(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp, sim_state: SimState,
) -> None:  # fmt: skip
    events = await published(clean_db, org, keyring, sim_http, sim_net, 2)
    handlers = MetricsHandlers(db=clean_db, readback_after=(3600, 6 * 3600), poke=lambda: None)
    for event in events:
        await handlers.share_published(event)
    # After a long outage both read-backs of each share are due in the same batch.
    await make_due(clean_db)
    collector = _collector(clean_db, sim_net, keyring)
    assert await collector.collect_once() == 4
    assert await collector.collect_once() == 0  # all done: the next round is not stuck on them
    assert len(await _samples(clean_db)) == 2 + 2  # the post's own, and one read each
    assert sim_state.requests["mastodon.get_statuses"] == 1


async def test_an_unexpected_error_in_one_read_stops_no_other(
    clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient, sim_net: NetworkHttp,
) -> None:  # fmt: skip
    from tests.factories import make_org

    orgs = [await make_org(clean_db, name=f"org-{i}") for i in range(2)]
    for each in orgs:
        for event in await published(clean_db, each, keyring, sim_http, sim_net, 1):
            await MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None) \
                .share_published(event)  # fmt: skip
    await make_due(clean_db)
    [sealed] = await _account_credentials(clean_db, orgs[0])
    broken_token = _token_of(keyring, sealed)

    class Exploding(MastodonClient):
        async def read_counts(self, *, account, remote_ids, budgets=None):  # type: ignore[no-untyped-def]
            if account.token == broken_token:
                raise RuntimeError("a bug in one read")
            return await super().read_counts(
                account=account, remote_ids=remote_ids, budgets=budgets
            )

    collector = _collector(clean_db, sim_net, keyring)
    collector._clients = {Network.MASTODON: Exploding(sim_net)}
    assert await collector.collect_once() == 2
    async with clean_db.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT s.org_id, r.done_at IS NOT NULL AS done, r.attempts "
                    "FROM metric_readbacks r JOIN shares s ON s.id = r.share_id"
                )
            )
        ).all()
    state = {row.org_id: (row.done, row.attempts) for row in rows}
    assert state == {orgs[0].id: (False, 1), orgs[1].id: (True, 0)}


async def test_each_organisations_posts_are_read_with_its_own_tokens(
    clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient, sim_app: FastAPI,
    sim_state: SimState,
) -> None:  # fmt: skip
    from tests.factories import make_org

    seen: list[tuple[str, list[str]]] = []
    inner = httpx.ASGITransport(app=sim_app)

    async def recording(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/v1/statuses") and request.method == "GET":
            ids = request.url.params.get_list("id[]")
            seen.append((request.headers["authorization"].split()[-1], ids))
        return await inner.handle_async_request(request)

    net = network_http(transport=httpx.MockTransport(recording))
    orgs = [await make_org(clean_db, name=f"org-{i}") for i in range(2)]
    owner: dict[str, Org] = {}
    for each in orgs:
        for event in await published(clean_db, each, keyring, sim_http, net, 3):
            owner[event.remote_id] = each
            await MetricsHandlers(db=clean_db, readback_after=(3600,), poke=lambda: None) \
                .share_published(event)  # fmt: skip
    # The first organisation's colleagues all revoked their tokens at the network.
    first_tokens = {
        _token_of(keyring, sealed) for sealed in await _account_credentials(clean_db, orgs[0])
    }
    for token in first_tokens:
        sim_state.by_token.pop(token)
    await make_due(clean_db)
    assert await _collector(clean_db, net, keyring).collect_once() == 6
    # The second organisation's posts were read, with its own tokens only; the first's
    # revoked tokens never read the second's posts.
    token_org = {
        _token_of(keyring, sealed): each
        for each in orgs
        for sealed in await _account_credentials(clean_db, each)
    }
    assert seen and all(owner[i] is token_org[token] for token, ids in seen for i in ids)
    async with clean_db.sessions() as session:
        second_samples = await session.scalar(
            text("SELECT count(*) FROM metric_samples WHERE org_id = :o"), {"o": orgs[1].id}
        )
    assert second_samples == 3 + 3


async def _account_credentials(db: Database, org: Org) -> list[bytes]:
    async with db.sessions() as session:
        return list(
            await session.scalars(
                text("SELECT credentials FROM accounts WHERE org_id = :o"), {"o": org.id}
            )
        )


def _token_of(keyring: Keyring, sealed: bytes) -> str:
    return keyring.open(sealed).access_token
