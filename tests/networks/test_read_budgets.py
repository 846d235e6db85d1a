"""Each network's read budget as its documentation scopes it, the keys a read's hold is kept
under (posting never sees a read's own hold; a shared budget is one hold), and the budgets a
read's answer reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from chorus.common.credentials import Credentials
from chorus.common.failures import RateScope
from chorus.common.kinds import Network
from chorus.common.ratelimits import BudgetScope, ReadScopeOf, scope_key
from chorus.networks import AccountAccess, RateBudget, specs
from chorus.networks.bluesky import BlueskyClient
from chorus.networks.mastodon import MastodonClient
from chorus.networks.x import XClient
from tests.factories import network_http

ACCOUNT_ID = uuid.UUID("00000000-0000-0000-0000-00000000000a")


def _access(base_url: str) -> AccountAccess:
    return AccountAccess(base_url=base_url, credentials=Credentials(access_token="t"))


def _scope(network: Network) -> ReadScopeOf:
    budget = specs()[network].read_budget
    assert budget is not None
    return ReadScopeOf(
        network=network,
        scope=budget.scope,
        shared_with_posting=budget.shared_with_posting,
        account_id=ACCOUNT_ID,
        server="PDS.Example",
    )


def test_every_network_declares_how_its_reads_are_limited() -> None:
    declared = {n: s.read_budget for n, s in specs().items()}
    assert all(b is not None for b in declared.values())
    mastodon = declared[Network.MASTODON]
    assert mastodon is not None
    # 300 per 5 minutes per account, posts included: reads take at most half of it.
    assert (mastodon.scope, mastodon.shared_with_posting) == (BudgetScope.ACCOUNT, True)
    assert mastodon.requests is not None and mastodon.requests <= 150
    assert mastodon.window == timedelta(minutes=5)
    bluesky = declared[Network.BLUESKY]
    assert bluesky is not None
    assert (bluesky.scope, bluesky.shared_with_posting) == (BudgetScope.SERVER, False)
    assert bluesky.requests is not None and bluesky.requests <= 3000
    linkedin, x = declared[Network.LINKEDIN], declared[Network.X]
    assert linkedin is not None and x is not None
    # No published numbers: only their 429s and headers pace the reads.
    assert linkedin.requests is None and x.requests is None
    assert linkedin.window == timedelta(days=1) and not linkedin.shared_with_posting


def test_a_read_costs_what_its_batches_and_followers_cost() -> None:
    cost = {n: s.read_budget.cost for n, s in specs().items() if s.read_budget}
    assert cost[Network.MASTODON](45, 3) == 3  # batches of 20; followers come with statuses
    assert cost[Network.X](150, 2) == 2 + 2  # batches of 100, users/me per author
    assert cost[Network.BLUESKY](26, 1) == 2 + 1
    assert cost[Network.LINKEDIN](2, 1) == 4 * 2 + 1  # one metric per call
    assert cost[Network.FACEBOOK](5, 1) == 5 + 1


def test_a_shared_budget_is_one_hold_and_a_separate_one_is_the_reads_own() -> None:
    posting = scope_key(RateScope.ACCOUNT, ACCOUNT_ID)
    mastodon = _scope(Network.MASTODON)
    assert mastodon.key() == posting
    assert posting in mastodon.keys_to_check() and "app" in mastodon.keys_to_check()
    x = _scope(Network.X)
    assert x.key() == f"read:account:{ACCOUNT_ID}"
    assert x.key(app=True) == "read:app"
    assert posting not in x.keys_to_check() and "app" not in x.keys_to_check()
    bluesky = _scope(Network.BLUESKY)
    assert bluesky.key() == "read:server:pds.example"
    facebook = _scope(Network.FACEBOOK)
    assert (facebook.key(), facebook.key(app=True)) == (posting, "app")


def _mastodon_reads(request: httpx.Request) -> httpx.Response:
    assert request.url.path == "/api/v1/statuses"
    status = {"id": "7", "reblogs_count": 1, "favourites_count": 2, "replies_count": 0}
    return httpx.Response(
        200,
        json=[status],
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": "2026-11-28T00:05:00.123456Z",
        },
    )


async def test_mastodon_reads_report_their_budget() -> None:
    client = MastodonClient(network_http(transport=httpx.MockTransport(_mastodon_reads)))
    heard: list[RateBudget] = []
    counts = await client.read_counts(
        account=_access("http://mastodon.test"), remote_ids=["7"], budgets=heard
    )
    assert counts["7"].likes == 2
    reset = datetime(2026, 11, 28, 0, 5, 0, 123456, tzinfo=UTC)
    assert heard == [RateBudget(limit=300, remaining=0, reset_at=reset)]


async def test_x_reads_report_the_lookup_window() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "data": [
                    {
                        "id": "9",
                        "public_metrics": {"retweet_count": 0, "like_count": 3, "reply_count": 0},
                    }
                ]
            },
            headers={
                "x-rate-limit-limit": "900",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": "1800000000",
            },
        )

    heard: list[RateBudget] = []
    client = XClient(network_http(transport=httpx.MockTransport(handler)))
    await client.read_counts(account=_access("http://x.test"), remote_ids=["9"], budgets=heard)
    assert heard == [
        RateBudget(limit=900, remaining=0, reset_at=datetime.fromtimestamp(1800000000, UTC))
    ]


async def test_bluesky_reads_report_the_pds_budget() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"posts": []},
            headers={
                "RateLimit-Limit": "3000",
                "RateLimit-Remaining": "2999",
                "RateLimit-Reset": "1800000000",
                "RateLimit-Policy": "3000;w=300",
            },
        )

    heard: list[RateBudget] = []
    client = BlueskyClient(network_http(transport=httpx.MockTransport(handler)))
    await client.read_counts(
        account=_access("http://pds.test"), remote_ids=["at://did:plc:a/p/1"], budgets=heard
    )
    assert [(b.limit, b.remaining) for b in heard] == [(3000, 2999)]
