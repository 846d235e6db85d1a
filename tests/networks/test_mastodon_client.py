"""The Mastodon client against the simulator's contract (in-process) and against answers the
simulator would never give (MockTransport)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chorus.common.credentials import Credentials
from chorus.common.failures import PermanentFailure, RateLimited, TransientFailure
from chorus.common.http import NetworkHttp
from chorus.netsim import SimState
from chorus.networks import AccountAccess, RenderedPost
from chorus.networks.mastodon import MastodonClient
from tests.factories import network_http, sim_accounts

LINK = "https://example.com/launch"


def _post(text: str, link: str = LINK) -> RenderedPost:
    return RenderedPost(text=f"{text}\n\n{link}", link=link)


def _access(base_url: str, token: str) -> AccountAccess:
    return AccountAccess(base_url=base_url, credentials=Credentials(access_token=token))


async def _account(sim_http: httpx.AsyncClient, followers: int = 7) -> AccountAccess:
    [sim] = await sim_accounts(sim_http, count=1, followers=followers)
    return _access(sim["base_url"], sim["token"])


async def test_post_returns_the_status_id_and_the_rate_budget(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, sim_state: SimState
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    result = await client.post(account=account, post=_post("hi"), media=(), key="k")
    assert result.remote_id in sim_state.posts
    assert [b.remaining for b in result.budgets] == [299]
    reset_at = result.budgets[0].reset_at
    assert reset_at is not None and reset_at > datetime.now(UTC)


async def test_same_idempotency_key_gives_the_same_post(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, sim_state: SimState
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    first = await client.post(account=account, post=_post("hi"), media=(), key="k")
    again = await client.post(account=account, post=_post("hi"), media=(), key="k")
    assert again.remote_id == first.remote_id
    assert len(sim_state.posts) == 1


async def test_429_is_rate_limited_until_the_networks_reset(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["429"]})
    with pytest.raises(RateLimited) as caught:
        await client.post(account=account, post=_post("hi"), media=(), key="k")
    assert caught.value.until > datetime.now(UTC)


async def test_5xx_is_transient_and_401_is_permanent(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["503"]})
    with pytest.raises(TransientFailure):
        await client.post(account=account, post=_post("hi"), media=(), key="k")
    revoked = _access(account.base_url, "revoked")
    with pytest.raises(PermanentFailure, match="invalid"):
        await client.post(account=revoked, post=_post("hi"), media=(), key="k")


async def test_too_long_text_is_permanent(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    client = MastodonClient(sim_net)
    # The instance's own limit (/api/v2/instance) is checked before anything is sent.
    with pytest.raises(PermanentFailure, match="allows 500"):
        await client.post(
            account=await _account(sim_http),
            post=RenderedPost("x" * 501, LINK),
            media=(),
            key="k",
        )


async def test_counts_and_followers_read_back(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, sim_state: SimState
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http, followers=321)
    posted = await client.post(account=account, post=_post("hi"), media=(), key="k")
    assert posted.observed is not None and posted.observed.author_followers == 321
    await sim_http.post(f"/_sim/posts/{posted.remote_id}/counts", json={"likes": 4, "reshares": 2})
    counts = await client.read_counts(account=account, remote_ids=[posted.remote_id, "404"])
    assert set(counts) == {posted.remote_id}
    assert counts[posted.remote_id].likes == 4 and counts[posted.remote_id].reshares == 2
    assert counts[posted.remote_id].impressions is None  # Mastodon has none: not zero.
    assert counts[posted.remote_id].author_followers == 321
    assert await client.read_followers(account=account) == 321


async def test_many_posts_are_read_in_batches(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, sim_state: SimState
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    ids = [
        (await client.post(account=account, post=_post(f"n{i}"), media=(), key=f"k{i}")).remote_id
        for i in range(25)
    ]
    counts = await client.read_counts(account=account, remote_ids=ids)
    assert set(counts) == set(ids)
    assert sim_state.requests["mastodon.get_statuses"] == 2


def _mock(handler: Any) -> MastodonClient:
    return MastodonClient(network_http(transport=httpx.MockTransport(handler)))


ACCOUNT = _access("http://mastodon.test", "t")


async def test_timeout_after_sending_is_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(TransientFailure) as caught:
        await _mock(handler).post(account=ACCOUNT, post=_post("hi"), media=(), key="k")
    assert caught.value.ambiguous


async def test_connection_refused_is_not_ambiguous() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TransientFailure) as caught:
        await _mock(handler).post(account=ACCOUNT, post=_post("hi"), media=(), key="k")
    assert not caught.value.ambiguous


@pytest.mark.parametrize("body", [b"not json", b'{"no_id": 1}', b'{"id": 12}', b"[]"])
async def test_a_malformed_success_answer_is_ambiguous_not_a_crash(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    with pytest.raises(TransientFailure) as caught:
        await _mock(handler).post(account=ACCOUNT, post=_post("hi"), media=(), key="k")
    assert caught.value.ambiguous


async def test_429_without_reset_header_still_waits() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": "Too many requests"})

    with pytest.raises(RateLimited) as caught:
        await _mock(handler).post(account=ACCOUNT, post=_post("hi"), media=(), key="k")
    assert (caught.value.until - datetime.now(UTC)).total_seconds() > 30


async def test_instances_without_the_batch_route_are_read_one_by_one() -> None:
    status = {
        "id": "7",
        "reblogs_count": 1,
        "favourites_count": 2,
        "replies_count": 0,
        "account": {"followers_count": 9},
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/v1/statuses":
            return httpx.Response(404, json={"error": "Not found"})
        if request.url.path == "/api/v1/statuses/7":
            return httpx.Response(200, json=status)
        return httpx.Response(404, json={"error": "Record not found"})

    counts = await _mock(handler).read_counts(account=ACCOUNT, remote_ids=["7", "8"])
    assert set(counts) == {"7"}
    assert (counts["7"].likes, counts["7"].author_followers) == (2, 9)
    assert sorted(seen) == ["/api/v1/statuses", "/api/v1/statuses/7", "/api/v1/statuses/8"]


async def test_find_post_matches_the_rendered_status(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    since = datetime.now(UTC)
    link = "https://example.com/a/very/long/path/that/mastodon/cuts/for/display?x=1&y=2"
    post = _post("Fish & chips <today>\nline two", link)
    posted = await client.post(account=account, post=post, media=(), key="k")
    await client.post(account=account, post=_post("something else", link), media=(), key="k2")
    found = await client.find_post(account=account, post=post, since=since)
    assert found is not None and found.remote_id == posted.remote_id
    never = _post("never posted")
    assert await client.find_post(account=account, post=never, since=since) is None


async def test_find_post_pages_back_to_the_attempt_and_no_further(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, sim_state: SimState
) -> None:
    client = MastodonClient(sim_net)
    account = await _account(sim_http)
    since = datetime.now(UTC)
    share = _post("the share")
    target = await client.post(account=account, post=share, media=(), key="k")
    for i in range(60):  # posted since: the share is on the second page
        await client.post(account=account, post=_post(f"later {i}"), media=(), key=f"k{i}")
    found = await client.find_post(account=account, post=share, since=since)
    assert found is not None and found.remote_id == target.remote_id
    assert sim_state.requests["mastodon.account_statuses"] == 2
    # Asked from a later attempt, the same words posted before it are not its post.
    await sim_http.post("/_sim/clock", json={"advance_seconds": 7200})
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await client.find_post(account=account, post=share, since=later) is None
    assert sim_state.requests["mastodon.account_statuses"] == 3
