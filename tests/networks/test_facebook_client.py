"""Facebook Pages' client against the simulator: the page's feed with its link, unpublished
photos attached, counts from the post's fields, throttling codes per app and per page, a
revoked page token, and connecting every page a colleague manages."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from chorus.common.failures import AuthorizationFailure, RateLimited, RateScope, TransientFailure
from chorus.common.http import NetworkHttp
from chorus.networks import Content, RenderedPost
from chorus.networks.facebook import SPEC, FacebookClient
from chorus.networks.facebook.connect import FacebookConnector
from chorus.networks.oauth import code_challenge, new_code_verifier
from tests.factories import network_http
from tests.networks.simulated import REDIRECT, access, app, consent, image, sim_account

LINK = "https://example.com/launch"


def _post(text: str) -> RenderedPost:
    return SPEC.render(Content(message=text, url=LINK))


async def test_post_photos_and_counts(sim_http: httpx.AsyncClient, sim_net: NetworkHttp) -> None:
    page = access(await sim_account(sim_http, "facebook", followers=90))
    client = FacebookClient(sim_net)
    posted = await client.post(account=page, post=_post("Our news"), media=(), key="k")
    assert posted.remote_id.startswith(f"{page.remote_account_id}_")
    with_photo = await client.post(
        account=page, post=_post("Pictures"), media=[await image(sim_http)], key="k2"
    )
    stored = (await sim_http.get("/_sim/posts", params={"network": "facebook"})).json()
    assert {p["remote_id"] for p in stored} == {posted.remote_id, with_photo.remote_id}
    await sim_http.post(
        f"/_sim/posts/{posted.remote_id}/counts", json={"likes": 7, "reshares": 3, "replies": 2}
    )
    counts = await client.read_counts(account=page, remote_ids=[posted.remote_id])
    found = counts[posted.remote_id]
    assert (found.likes, found.reshares, found.replies, found.impressions) == (7, 3, 2, None)
    assert await client.read_followers(account=page) == 90


@pytest.mark.parametrize(("code", "scope"), [(4, RateScope.APP), (32, RateScope.ACCOUNT)])
async def test_throttling_codes_wait_for_the_right_scope(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp, code: int, scope: RateScope
) -> None:
    page = access(await sim_account(sim_http, "facebook"))
    await sim_http.post(
        "/_sim/limits", json={"facebook_calls_per_hour": 1, "facebook_throttle_code": code}
    )
    client = FacebookClient(sim_net)
    await client.post(account=page, post=_post("one"), media=(), key="k")
    with pytest.raises(RateLimited) as caught:
        await client.post(account=page, post=_post("two"), media=(), key="k")
    assert caught.value.scope is scope and caught.value.until > datetime.now(UTC)


async def test_a_revoked_page_token_needs_the_colleague(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    made = await sim_account(sim_http, "facebook")
    await sim_http.post(f"/_sim/accounts/{made['id']}/revoke")
    with pytest.raises(AuthorizationFailure, match="190"):
        await FacebookClient(sim_net).post(account=access(made), post=_post("x"), media=(), key="k")


async def test_an_ambiguous_post_is_found_in_the_pages_feed(
    sim_http: httpx.AsyncClient, sim_app: FastAPI
) -> None:
    page = access(await sim_account(sim_http, "facebook"))
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    quick = network_http(app=sim_app, deadline=0.5)
    since = datetime.now(UTC)
    client = FacebookClient(quick)
    post = _post("Ambiguous, but findable")
    with pytest.raises(TransientFailure) as caught:
        await client.post(account=page, post=post, media=(), key="k")
    assert caught.value.ambiguous
    found = await client.find_post(account=page, post=post, since=since)
    assert found is not None and found.remote_id.startswith(f"{page.remote_account_id}_")
    assert await client.find_post(account=page, post=_post("other"), since=since) is None
    await quick.aclose()


async def test_connecting_gives_each_managed_page(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    user = await sim_account(sim_http, "facebook", kind="user", pages=2)
    fb_app = await app(sim_http, "facebook", auth_path="/dialog/oauth", version="v24.0")
    connector = FacebookConnector()
    url = connector.authorization_url(
        app=fb_app, redirect_uri=REDIRECT, state="s", code_challenge=code_challenge("v" * 43)
    )
    code = await consent(sim_http, url, user["id"])
    pages = await connector.exchange(
        http=sim_net,
        app=fb_app,
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=new_code_verifier(),
    )
    assert sorted(p.remote_account_id for p in pages if p.kind == "page") == sorted(
        p["id"] for p in user["pages"]
    )
    assert [p.remote_account_id for p in pages if p.kind == "profile"] == [user["id"]]
    # Each page's own token posts as that page.
    page = pages[0]
    posted = await FacebookClient(sim_net).post(
        account=access(
            {
                "base_url": fb_app.api_url,
                "token": page.credentials.access_token,
                "username": page.handle,
                "id": page.remote_account_id,
            }
        ),
        post=_post("As the page"),
        media=(),
        key="k",
    )
    assert posted.remote_id.startswith(f"{page.remote_account_id}_")
