"""Read-backs within each network's read budget, against the real database and the simulated
Mastodon: a read's 429 holds its scope for every replica without spending an attempt, held
read-backs are not read until the hold ends, other scopes read on, a post's hold stops reads
where posts and reads share one budget, and the collector's own pace stays within a declared
budget however many replicas read."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.failures import RateScope
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.ratelimits import (
    BudgetScope,
    Hold,
    HoldQuery,
    ReadHold,
    active_holds,
    hold,
    read_hold,
)
from chorus.common.wakeup import Wakeup
from chorus.metrics.collector import Collector
from chorus.metrics.handlers import MetricsHandlers
from chorus.netsim import SimState
from chorus.networks import ReadBudget
from chorus.networks.mastodon import MastodonClient
from tests.factories import Org, make_org, network_http
from tests.metrics.readbacks import make_due, published

pytestmark = pytest.mark.integration


def _collector(
    db: Database,
    net: NetworkHttp,
    keyring: Keyring,
    *,
    budget: ReadBudget | None = None,
    batch_size: int = 500,
) -> Collector:
    return Collector(
        db=db,
        clients={Network.MASTODON: MastodonClient(net)},
        keyring=keyring,
        wakeup=Wakeup(None, "readbacks"),
        batch_size=batch_size,
        max_attempts=3,
        poll_seconds=1.0,
        read_budgets=None if budget is None else {Network.MASTODON: budget},
    )


async def _read_back_later(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient, net: NetworkHttp, n: int
) -> None:
    """`n` posts of `org`, each with one read-back, due now."""
    handlers = MetricsHandlers(db=db, readback_after=(3600,), poke=lambda: None)
    for event in await published(db, org, keyring, sim, net, n):
        await handlers.share_published(event)


async def _readbacks(db: Database) -> dict[uuid.UUID, list[Any]]:
    """Each organisation's read-backs: (done, attempts, due_at)."""
    async with db.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT s.org_id, r.done_at IS NOT NULL AS done, r.attempts, r.due_at "
                    "FROM metric_readbacks r JOIN shares s ON s.id = r.share_id"
                )
            )
        ).all()
    found: dict[uuid.UUID, list[Any]] = {}
    for row in rows:
        found.setdefault(row.org_id, []).append(row)
    return found


async def _holds(db: Database) -> list[Any]:
    async with db.sessions() as session:
        return list(
            (await session.execute(text("SELECT network, scope_key, until FROM rate_holds"))).all()
        )


async def _accounts(db: Database, org: Org) -> list[uuid.UUID]:
    async with db.sessions() as session:
        return list(
            await session.scalars(text("SELECT id FROM accounts WHERE org_id = :o"), {"o": org.id})
        )


def _counter(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"network": "mastodon", "kind": kind}) or 0.0


async def test_a_read_429_holds_its_scope_until_the_reset_and_spends_no_attempt(
    clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient, sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:  # fmt: skip
    orgs = [await make_org(clean_db, name=f"org-{i}") for i in range(2)]
    for each in orgs:
        await _read_back_later(clean_db, each, keyring, sim_http, sim_net, 1)
    await make_due(clean_db)
    limited_before = _counter("chorus_read_rate_limits_total", "rate_limited")
    await sim_http.post("/_sim/faults", json={"reads": ["429"]})
    collector = _collector(clean_db, sim_net, keyring)

    assert await collector.collect_once() == 2
    assert sim_state.requests["mastodon.get_statuses"] == 2
    assert _counter("chorus_read_rate_limits_total", "rate_limited") == limited_before + 1
    state = await _readbacks(clean_db)
    [limited] = [o for o in orgs if not state[o.id][0].done]
    [other] = [o for o in orgs if o is not limited]
    # The other organisation's read went on.
    assert [r.done for r in state[other.id]] == [True]
    # The limited one waits for the hold, its attempts untouched; the hold is its account's
    # (Mastodon's /api/* budget is per account, posts included).
    [account] = await _accounts(clean_db, limited)
    [held] = await _holds(clean_db)
    assert (held.network, held.scope_key) == ("mastodon", f"account:{account}")
    assert held.until > datetime.now(UTC)
    [waiting] = state[limited.id]
    assert (waiting.done, waiting.attempts, waiting.due_at) == (False, 0, held.until)

    # Due again before the reset (another replica, a clock): skipped without a request.
    await make_due(clean_db)
    held_before = _counter("chorus_readbacks_deferred_total", "held")
    assert await collector.collect_once() == 1
    assert sim_state.requests["mastodon.get_statuses"] == 2
    assert _counter("chorus_readbacks_deferred_total", "held") == held_before + 1
    [waiting] = (await _readbacks(clean_db))[limited.id]
    assert (waiting.done, waiting.attempts, waiting.due_at) == (False, 0, held.until)

    # The reset passed: it is read, still never having spent an attempt.
    async with clean_db.sessions.begin() as session:
        await session.execute(text("UPDATE rate_holds SET until = now() - interval '1 second'"))
    await make_due(clean_db)
    assert await collector.collect_once() == 1
    assert sim_state.requests["mastodon.get_statuses"] == 3
    [read] = (await _readbacks(clean_db))[limited.id]
    assert (read.done, read.attempts) == (True, 0)


async def test_a_spent_budget_in_a_reads_answer_holds_before_the_429(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_app: FastAPI,
) -> None:  # fmt: skip
    inner = httpx.ASGITransport(app=sim_app)
    reset = (datetime.now(UTC) + timedelta(minutes=4)).replace(microsecond=0)

    async def last_request(request: httpx.Request) -> httpx.Response:
        answer = await inner.handle_async_request(request)
        if request.method == "GET" and request.url.path.endswith("/api/v1/statuses"):
            answer.headers["X-RateLimit-Remaining"] = "0"
            answer.headers["X-RateLimit-Reset"] = reset.isoformat().replace("+00:00", "Z")
        return answer

    net = network_http(transport=httpx.MockTransport(last_request))
    await _read_back_later(clean_db, org, keyring, sim_http, net, 2)
    await make_due(clean_db)
    spent_before = _counter("chorus_read_rate_limits_total", "budget_spent")
    assert await _collector(clean_db, net, keyring).collect_once() == 2
    # The read itself counts; the budget it spent holds the account for everyone after it.
    assert all(r.done for r in (await _readbacks(clean_db))[org.id])
    [held] = await _holds(clean_db)
    assert held.until == reset and held.scope_key.startswith("account:")
    assert _counter("chorus_read_rate_limits_total", "budget_spent") == spent_before + 1


async def test_a_posting_hold_stops_reads_where_the_budget_is_shared(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp, sim_state: SimState,
) -> None:  # fmt: skip
    await _read_back_later(clean_db, org, keyring, sim_http, sim_net, 2)
    await make_due(clean_db)
    until = (datetime.now(UTC) + timedelta(minutes=3)).replace(microsecond=0)
    # A publisher heard Mastodon's 429 for both colleagues' accounts.
    async with clean_db.sessions.begin() as session:
        await hold(
            session=session,
            holds=[
                Hold(Network.MASTODON, RateScope.ACCOUNT, account, until, "mastodon 429")
                for account in await _accounts(clean_db, org)
            ],
        )
    assert await _collector(clean_db, sim_net, keyring).collect_once() == 2
    assert sim_state.requests["mastodon.get_statuses"] == 0
    state = (await _readbacks(clean_db))[org.id]
    assert [(r.done, r.attempts, r.due_at) for r in state] == [(False, 0, until)] * 2


async def test_a_read_hold_stops_posting_only_where_the_budget_is_shared(
    clean_db: Database,
) -> None:
    account = uuid.uuid4()
    until = datetime.now(UTC) + timedelta(minutes=5)
    async with clean_db.sessions.begin() as session:
        await read_hold(
            session=session,
            holds=[
                # X's reads have windows of their own; Mastodon's are the account's one budget.
                ReadHold(Network.X, f"read:account:{account}", until, "x read 429"),
                ReadHold(Network.MASTODON, f"account:{account}", until, "mastodon read 429"),
            ],
        )
        x, mastodon = await active_holds(
            session=session,
            queries=[HoldQuery(Network.X, account), HoldQuery(Network.MASTODON, account)],
        )
    assert x is None
    assert mastodon is not None and mastodon[1] == "mastodon read 429"


async def test_pacing_stays_within_a_small_declared_budget_across_replicas(
    clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient, sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:  # fmt: skip
    # Two reads per window for the whole server, whoever reads; a window long enough that
    # the test never sees it turn.
    budget = ReadBudget(
        scope=BudgetScope.SERVER,
        shared_with_posting=False,
        requests=2,
        window=timedelta(days=3650),
        cost=lambda posts, authors: 1,
    )
    orgs = [await make_org(clean_db, name=f"org-{i}") for i in range(5)]
    for each in orgs:
        await _read_back_later(clean_db, each, keyring, sim_http, sim_net, 1)
    await make_due(clean_db)
    paced_before = _counter("chorus_readbacks_deferred_total", "paced")
    replicas = [_collector(clean_db, sim_net, keyring, budget=budget, batch_size=2) for _ in "ab"]
    # Two replicas at once, each on its own share of the due read-backs, then the rest.
    assert sum(await asyncio.gather(*(r.collect_once() for r in replicas))) == 4
    await replicas[0].collect_once()

    assert sim_state.requests["mastodon.get_statuses"] == 2
    state = [r for rows in (await _readbacks(clean_db)).values() for r in rows]
    assert sorted(r.done for r in state) == [False, False, False, True, True]
    waiting = [r for r in state if not r.done]
    assert all(r.attempts == 0 and r.due_at > datetime.now(UTC) for r in waiting)
    assert _counter("chorus_readbacks_deferred_total", "paced") == paced_before + 3
    async with clean_db.sessions() as session:
        used = await session.scalar(text("SELECT sum(used) FROM read_paces"))
    assert used == 2
