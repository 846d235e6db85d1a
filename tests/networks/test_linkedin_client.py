"""LinkedIn's client against the simulator: little-text escaping, the URN from x-restli-id, the
pinned version, image upload, the daily 429 that waits until midnight UTC, analytics one metric
at a time, the reconciling look-up, and the 60-day consent."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from chorus.common.failures import (
    AuthorizationFailure,
    PermanentFailure,
    RateLimited,
    TransientFailure,
)
from chorus.common.http import NetworkHttp
from chorus.networks import Content, RenderedPost
from chorus.networks.linkedin import SPEC, LinkedInClient
from chorus.networks.linkedin.client import next_utc_midnight
from chorus.networks.linkedin.connect import LinkedInConnector
from chorus.networks.linkedin.text import escape_little_text
from chorus.networks.oauth import code_challenge, new_code_verifier
from tests.factories import network_http
from tests.networks.simulated import REDIRECT, access, app, consent, image, sim_account

LINK = "https://example.com/launch_day#news"


def _post(text: str) -> RenderedPost:
    return SPEC.render(Content(message=text, url=LINK, title="Launch", description="Read on"))


def test_little_text_reserved_characters_are_escaped() -> None:
    assert escape_little_text("Q&A (live) #1 @team [x] {y} <z> a_b *c* ~d | e \\") == (
        "Q&A \\(live\\) \\#1 \\@team \\[x\\] \\{y\\} \\<z\\> a\\_b \\*c\\* \\~d \\| e \\\\"
    )
    post = _post("Hello")
    # The link goes in a card we build, never in the escaped text.
    assert post.text == "Hello" and post.card is not None and post.card.url == LINK


def test_midnight_utc_is_when_the_daily_limit_resets() -> None:
    late = datetime(2026, 11, 27, 23, 59, tzinfo=UTC)
    assert next_utc_midnight(late) == datetime(2026, 11, 28, 0, 0, 5, tzinfo=UTC)


async def test_post_card_image_and_counts(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    account = access(await sim_account(sim_http, "linkedin", followers=40))
    client = LinkedInClient(sim_net)
    posted = await client.post(account=account, post=_post("Ship (it) #now"), media=(), key="k")
    assert posted.remote_id.startswith("urn:li:share:")
    assert posted.url == f"https://www.linkedin.com/feed/update/{posted.remote_id}/"
    [stored] = (await sim_http.get("/_sim/posts", params={"network": "linkedin"})).json()
    # Sent as little text: the reserved characters escaped, so LinkedIn shows them as written.
    assert stored["text"] == "Ship \\(it\\) \\#now"
    with_image = await client.post(
        account=account, post=_post("Pictures"), media=[await image(sim_http)], key="k2"
    )
    assert with_image.remote_id != posted.remote_id
    await sim_http.post(
        f"/_sim/posts/{posted.remote_id}/counts",
        json={"likes": 5, "reshares": 2, "replies": 1, "impressions": 300},
    )
    counts = (await client.read_counts(account=account, remote_ids=[posted.remote_id]))[
        posted.remote_id
    ]
    assert (counts.likes, counts.reshares, counts.replies, counts.impressions) == (5, 2, 1, 300)
    assert await client.read_followers(account=account) == 40


async def test_the_daily_limit_and_a_retired_version(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    account = access(await sim_account(sim_http, "linkedin"))
    await sim_http.post("/_sim/limits", json={"linkedin_member_daily": 1})
    client = LinkedInClient(sim_net)
    await client.post(account=account, post=_post("one"), media=(), key="k")
    with pytest.raises(RateLimited) as caught:
        await client.post(account=account, post=_post("two"), media=(), key="k")
    assert caught.value.until == next_utc_midnight(datetime.now(UTC))
    await sim_http.post("/_sim/limits", json={"linkedin_versions": ["202701"]})
    with pytest.raises(PermanentFailure, match="426"):
        await client.post(account=account, post=_post("three"), media=(), key="k")


async def test_an_ambiguous_post_is_found_among_the_members_posts(
    sim_http: httpx.AsyncClient, sim_app: FastAPI
) -> None:
    account = access(await sim_account(sim_http, "linkedin"))
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    quick = network_http(app=sim_app, deadline=0.5)
    since = datetime.now(UTC)
    client = LinkedInClient(quick)
    post = _post("Escaped (text) #tag @you")
    with pytest.raises(TransientFailure) as caught:
        await client.post(account=account, post=post, media=(), key="k")
    assert caught.value.ambiguous
    found = await client.find_post(account=account, post=post, since=since)
    assert found is not None and found.remote_id.startswith("urn:li:share:")
    assert await client.find_post(account=account, post=_post("other"), since=since) is None
    await quick.aclose()


async def test_consent_gives_sixty_days_and_no_refresh_outside_partners(
    sim_http: httpx.AsyncClient, sim_net: NetworkHttp
) -> None:
    account = await sim_account(sim_http, "linkedin")
    li_app = await app(sim_http, "linkedin", auth_path="/oauth/v2/authorization")
    connector = LinkedInConnector()
    url = connector.authorization_url(
        app=li_app, redirect_uri=REDIRECT, state="s", code_challenge=code_challenge("v" * 43)
    )
    code = await consent(sim_http, url, account["id"])
    [identity] = await connector.exchange(
        http=sim_net,
        app=li_app,
        code=code,
        redirect_uri=REDIRECT,
        code_verifier=new_code_verifier(),
    )
    assert identity.remote_account_id == account["id"]
    # No refresh token for ordinary apps: the consent ends with the token, in about 60 days.
    assert identity.credentials.refresh_token is None and identity.authorized_until is not None
    days = (identity.authorized_until - datetime.now(UTC)).days
    assert 58 <= days <= 60
    with pytest.raises(AuthorizationFailure):
        await LinkedInClient(sim_net, li_app).refresh(
            account=access({**account, "token": identity.credentials.access_token})
        )
