"""X's client against the simulator: posts, media, the 24-hour caps per user and per app, the
look-up that reconciles an ambiguous post, counts, and OAuth 2 with PKCE and rotating refresh
tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from chorus.common.failures import (
    AuthorizationFailure,
    RateLimited,
    RateScope,
    TokenExpired,
    TransientFailure,
)
from chorus.common.http import NetworkHttp
from chorus.networks import Content, RenderedPost
from chorus.networks.oauth import code_challenge, new_code_verifier
from chorus.networks.x import SPEC, XClient
from chorus.networks.x.connect import XConnector
from chorus.networks.x.text import weighted_length
from tests.factories import network_http
from tests.networks.simulated import REDIRECT, access, app, consent, image, sim_account

LINK = "https://example.com/launch"


def _post(text: str) -> RenderedPost:
    return SPEC.render(Content(message=text, url=LINK))


def test_weighted_length_counts_as_x_does() -> None:
    assert weighted_length("hello") == 5
    assert weighted_length("日本語") == 6  # CJK weighs 2
    assert weighted_length("👩‍👩‍👧‍👦") == 2  # one emoji, however many code points
    assert weighted_length("see https://example.com/" + "a" * 80) == 4 + 23  # every URL is 23
    # Text written right after a URL with no space is text, not URL.
    assert weighted_length("https://example.com/aこれ") == 23 + 4
    long = Content(message="字" * 130, url=LINK)
    assert SPEC.problems(long) and "280" in SPEC.problems(long)[0]
    assert SPEC.problems(Content(message="字" * 125, url=LINK)) == []


async def test_post_with_an_image_and_read_back(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    account = access(await sim_account(sim_http, "x", followers=12))
    client = XClient(sim_net)
    posted = await client.post(
        account=account, post=_post("We shipped"), media=[await image(sim_http)], key="unused"
    )
    assert posted.url == f"https://x.com/amb/status/{posted.remote_id}"
    # Every budget the answer reported, the app's 24-hour cap among them.
    assert {b.scope for b in posted.budgets} == {RateScope.ACCOUNT, RateScope.APP}
    [stored] = (await sim_http.get("/_sim/posts", params={"network": "x"})).json()
    assert stored["text"] == f"We shipped\n\n{LINK}" and len(stored["media_ids"]) == 1
    await sim_http.post(f"/_sim/posts/{posted.remote_id}/counts", json={"likes": 4, "quotes": 1})
    counts = await client.read_counts(account=account, remote_ids=[posted.remote_id, "404"])
    assert list(counts) == [posted.remote_id]
    assert counts[posted.remote_id].likes == 4 and counts[posted.remote_id].reshares == 1
    assert await client.read_followers(account=account) == 12


async def test_the_apps_daily_cap_holds_every_colleague(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    await sim_http.post("/_sim/limits", json={"x_app_24h": 1})
    client = XClient(sim_net)
    first = access(await sim_account(sim_http, "x"))
    second = access(await sim_account(sim_http, "x"))
    await client.post(account=first, post=_post("one"), media=(), key="k1")
    with pytest.raises(RateLimited) as caught:
        await client.post(account=second, post=_post("two"), media=(), key="k2")
    # The app's cap, not the colleague's: every X share waits, and no retry is spent.
    assert caught.value.scope is RateScope.APP


async def test_an_expired_token_is_refreshable_only_with_a_refresh_token(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    made = await sim_account(sim_http, "x")
    await sim_http.post("/_sim/clock", json={"advance_seconds": 2 * 3600 + 1})
    client = XClient(sim_net)
    with pytest.raises(TokenExpired):
        await client.post(account=access(made, refresh="r"), post=_post("a"), media=(), key="k")
    with pytest.raises(AuthorizationFailure):
        await client.post(account=access(made), post=_post("a"), media=(), key="k")


async def test_an_ambiguous_post_is_found_on_the_timeline(
    sim_http: httpx.AsyncClient, sim_app: FastAPI
) -> None:
    account = access(await sim_account(sim_http, "x"))
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    quick = network_http(app=sim_app, deadline=0.5)
    since = datetime.now(UTC)
    client = XClient(quick)
    post = _post("Big news @bob #launch")
    with pytest.raises(TransientFailure) as caught:
        await client.post(account=account, post=post, media=(), key="k")
    assert caught.value.ambiguous
    found = await client.find_post(account=account, post=post, since=since)
    stored = (await sim_http.get("/_sim/posts", params={"network": "x"})).json()
    assert found is not None and [found.remote_id] == [p["remote_id"] for p in stored]
    assert await client.find_post(account=account, post=_post("never sent"), since=since) is None
    await quick.aclose()


async def test_connecting_with_pkce_and_rotating_refresh_tokens(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    account = await sim_account(sim_http, "x")
    x_app = await app(sim_http, "x", auth_path="/i/oauth2/authorize")
    connector = XConnector()
    verifier = new_code_verifier()
    url = connector.authorization_url(
        app=x_app, redirect_uri=REDIRECT, state="s1", code_challenge=code_challenge(verifier)
    )
    code = await consent(sim_http, url, account["id"])
    # A wrong verifier is refused: PKCE is checked.
    with pytest.raises(AuthorizationFailure):
        await connector.exchange(
            http=sim_net, app=x_app, code=code, redirect_uri=REDIRECT, code_verifier="wrong" * 10
        )
    code = await consent(sim_http, url, account["id"])
    [identity] = await connector.exchange(
        http=sim_net, app=x_app, code=code, redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert (identity.handle, identity.remote_account_id) == ("amb", account["id"])
    assert identity.credentials.refresh_token and identity.credentials.expires_at
    client = XClient(sim_net, x_app)
    connected = access(
        {**account, "token": identity.credentials.access_token},
        refresh=identity.credentials.refresh_token,
    )
    renewed = await client.refresh(account=connected)
    assert renewed.refresh_token != identity.credentials.refresh_token
    await client.post(
        account=access({**account, "token": renewed.access_token}),
        post=_post("ok"),
        media=(),
        key="k",
    )
    # The old refresh token was spent by the rotation.
    with pytest.raises(AuthorizationFailure):
        await client.refresh(account=connected)
