"""The simulator keeps the Graph API's contract for Pages: page tokens from /me/accounts,
`{page}_{post}` ids, OAuthException errors (190, 200, throttling) with usage headers, photos,
and the Facebook Login code exchange."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chorus.netsim import SimState

V = "/facebook/v24.0"
REDIRECT = "https://chorus.example/callback/facebook"
METRICS = "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"


async def _user(sim: httpx.AsyncClient, pages: int = 2) -> dict[str, Any]:
    made = await sim.post(
        "/_sim/accounts",
        json={"network": "facebook", "kind": "user", "pages": pages, "followers": 5},
    )
    user: dict[str, Any] = made.json()[0]
    return user


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_page_post_round_trip_with_counts(sim_http: httpx.AsyncClient) -> None:
    user = await _user(sim_http)
    managed = await sim_http.get(f"{V}/me/accounts", headers=_bearer(user["token"]))
    page = managed.json()["data"][0]
    assert "CREATE_CONTENT" in page["tasks"]
    posted = await sim_http.post(
        f"{V}/{page['id']}/feed",
        data={
            "message": "hello",
            "link": "https://example.com",
            "access_token": page["access_token"],
        },
    )
    assert posted.status_code == 200
    post_id = posted.json()["id"]
    assert post_id.startswith(f"{page['id']}_")
    before = await sim_http.get(
        f"{V}/{post_id}", params={"fields": METRICS, "access_token": page["access_token"]}
    )
    assert "shares" not in before.json()  # Graph leaves shares out until someone shares
    await sim_http.post(f"/_sim/posts/{post_id}/counts", json={"reshares": 2, "likes": 5})
    after = (
        await sim_http.get(
            f"{V}/{post_id}", params={"fields": METRICS}, headers=_bearer(page["access_token"])
        )
    ).json()
    assert after["shares"] == {"count": 2}
    assert after["reactions"]["summary"]["total_count"] == 5
    assert after["comments"]["summary"]["total_count"] == 0
    counts = await sim_http.get(
        f"{V}/{page['id']}",
        params={"fields": "followers_count,fan_count"},
        headers=_bearer(page["access_token"]),
    )
    assert counts.json() == {"id": page["id"], "followers_count": 5, "fan_count": 5}
    feed = await sim_http.get(f"{V}/{page['id']}/feed", headers=_bearer(page["access_token"]))
    [entry] = feed.json()["data"]
    assert entry["id"] == post_id and entry["message"] == "hello"
    assert entry["created_time"].endswith("+0000")


async def test_error_shapes_invalid_permission_revoked(sim_http: httpx.AsyncClient) -> None:
    user = await _user(sim_http, pages=1)
    [page] = user["pages"]
    bad = await sim_http.post(
        f"{V}/{page['id']}/feed", data={"message": "x"}, headers=_bearer("nope")
    )
    error = bad.json()["error"]
    assert bad.status_code == 400 and error["code"] == 190 and error["type"] == "OAuthException"
    assert "fbtrace_id" in error
    as_user = await sim_http.post(
        f"{V}/{page['id']}/feed", data={"message": "x"}, headers=_bearer(user["token"])
    )
    assert as_user.json()["error"]["code"] == 200
    await sim_http.post(f"/_sim/tokens/{page['token']}/revoke")
    revoked = await sim_http.post(
        f"{V}/{page['id']}/feed", data={"message": "x"}, headers=_bearer(page["token"])
    )
    assert revoked.json()["error"]["code"] == 190
    assert (await sim_http.get("/facebook/v24.1/me", headers=_bearer("x"))).status_code == 400


async def test_throttle_codes_and_usage_headers(sim_http: httpx.AsyncClient) -> None:
    user = await _user(sim_http, pages=1)
    [page] = user["pages"]
    await sim_http.post("/_sim/limits", json={"facebook_calls_per_hour": 2})
    answers = [
        await sim_http.post(
            f"{V}/me/feed", json={"message": f"n{i}"}, headers=_bearer(page["token"])
        )
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 400]
    assert answers[2].json()["error"]["code"] == 32
    usage = json.loads(answers[2].headers["X-Business-Use-Case-Usage"])
    [entry] = usage[page["id"]]
    assert entry["call_count"] == 100 and entry["estimated_time_to_regain_access"] > 0
    assert json.loads(answers[1].headers["X-App-Usage"])["call_count"] == 100
    await sim_http.post("/_sim/limits", json={"facebook_calls_per_hour": 100})
    await sim_http.post("/_sim/clock", json={"advance_seconds": 3600})
    await sim_http.post("/_sim/faults", json={"next": ["429", "500"]})
    throttled = await sim_http.post(
        f"{V}/me/feed", json={"message": "y"}, headers=_bearer(page["token"])
    )
    assert throttled.json()["error"]["code"] == 4
    failed = await sim_http.post(
        f"{V}/me/feed", json={"message": "y"}, headers=_bearer(page["token"])
    )
    assert failed.status_code == 500 and failed.json()["error"]["is_transient"]


async def test_unpublished_photos_attach_to_a_post(
    sim_http: httpx.AsyncClient, sim_state: SimState
) -> None:
    user = await _user(sim_http, pages=1)
    [page] = user["pages"]
    png = (await sim_http.get("/_sim/images/x.png")).content
    assert png.startswith(b"\x89PNG")
    uploaded = await sim_http.post(
        f"{V}/{page['id']}/photos",
        headers=_bearer(page["token"]),
        data={"published": "false"},
        files={"source": ("x.png", png, "image/png")},
    )
    by_url = await sim_http.post(
        f"{V}/{page['id']}/photos",
        headers=_bearer(page["token"]),
        data={"published": "false", "url": "http://sim/_sim/images/y.png"},
    )
    ids = [uploaded.json()["id"], by_url.json()["id"]]
    assert sim_state.media[ids[0]].size == len(png)
    posted = await sim_http.post(
        f"{V}/{page['id']}/feed",
        headers=_bearer(page["token"]),
        data={
            "message": "two photos",
            **{f"attached_media[{i}]": json.dumps({"media_fbid": m}) for i, m in enumerate(ids)},
        },
    )
    assert posted.status_code == 200
    [stored] = sim_state.posts.values()
    assert stored.media_ids == ids


async def test_login_code_then_long_lived_token(sim_http: httpx.AsyncClient) -> None:
    user = await _user(sim_http, pages=1)
    app = (
        await sim_http.post("/_sim/apps", json={"network": "facebook", "redirect_uris": [REDIRECT]})
    ).json()
    page = await sim_http.get(
        "/facebook/dialog/oauth",
        params={"client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "z"},
    )
    assert page.status_code == 200 and user["username"] in page.text
    allowed = await sim_http.get(
        "/facebook/dialog/oauth",
        params={
            "client_id": app["client_id"],
            "redirect_uri": REDIRECT,
            "state": "z",
            "sim_account": user["id"],
        },
    )
    code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
    client = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    short = await sim_http.get(
        f"{V}/oauth/access_token", params={**client, "redirect_uri": REDIRECT, "code": code}
    )
    assert short.json()["expires_in"] == 3600
    long = await sim_http.get(
        f"{V}/oauth/access_token",
        params={
            **client,
            "grant_type": "fb_exchange_token",
            "fb_exchange_token": short.json()["access_token"],
        },
    )
    long_token = long.json()["access_token"]
    assert long.json()["expires_in"] == 60 * 86400
    await sim_http.post("/_sim/clock", json={"advance_seconds": 3600})
    expired = await sim_http.get(f"{V}/me", headers=_bearer(short.json()["access_token"]))
    assert expired.json()["error"]["error_subcode"] == 463
    pages = await sim_http.get(f"{V}/me/accounts", headers=_bearer(long_token))
    page_token = pages.json()["data"][0]["access_token"]
    await sim_http.post("/_sim/clock", json={"advance_seconds": 61 * 86400})
    assert (await sim_http.get(f"{V}/me", headers=_bearer(long_token))).status_code == 400
    assert (await sim_http.get(f"{V}/me", headers=_bearer(page_token))).status_code == 200
