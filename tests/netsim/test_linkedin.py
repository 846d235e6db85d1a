"""The simulator keeps LinkedIn's contract: versioned /rest calls, 201 with `x-restli-id` and
an empty body, 422 shapes, image uploads, member analytics, a daily 429 without rate headers,
and OAuth with refresh tokens for partner apps only."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chorus.netsim import SimState

REDIRECT = "https://chorus.example/callback/linkedin"


async def _member(sim: httpx.AsyncClient, followers: int = 42) -> dict[str, Any]:
    made = await sim.post(
        "/_sim/accounts", json={"network": "linkedin", "username": "amb", "followers": followers}
    )
    account: dict[str, Any] = made.json()[0]
    return account


def _headers(token: str, version: str = "202511") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": version,
        "X-Restli-Protocol-Version": "2.0.0",
    }


def _post(author: str, text: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "author": author,
        "commentary": text,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    if content:
        body["content"] = content
    return body


async def test_post_round_trip_and_analytics(sim_http: httpx.AsyncClient) -> None:
    member = await _member(sim_http)
    headers = _headers(member["token"])
    userinfo = await sim_http.get("/linkedin/v2/userinfo", headers=headers)
    author = f"urn:li:person:{userinfo.json()['sub']}"
    assert author == member["urn"]
    article = {"article": {"source": "https://example.com/a", "title": "A", "description": "d"}}
    posted = await sim_http.post(
        "/linkedin/rest/posts", headers=headers, json=_post(author, "hello", article)
    )
    assert posted.status_code == 201 and posted.content == b""
    urn = posted.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:")
    found = await sim_http.get(
        "/linkedin/rest/posts", headers=headers, params={"q": "author", "author": author}
    )
    [element] = found.json()["elements"]
    assert element["id"] == urn and element["commentary"] == "hello"
    assert element["content"] == article and isinstance(element["createdAt"], int)
    await sim_http.post(f"/_sim/posts/{urn}/counts", json={"impressions": 90, "reshares": 2})
    entity = "(share:" + urn.replace(":", "%3A") + ")"
    metrics = await sim_http.get(
        f"/linkedin/rest/memberCreatorPostAnalytics?q=entity&entity={entity}"
        "&queryType=IMPRESSION&aggregation=TOTAL",
        headers=headers,
    )
    assert metrics.json()["elements"][0]["count"] == 90
    assert metrics.json()["elements"][0]["metricType"] == "IMPRESSION"
    reshares = await sim_http.get(
        f"/linkedin/rest/memberCreatorPostAnalytics?q=entity&entity={entity}"
        "&queryType=RESHARE&aggregation=TOTAL",
        headers=headers,
    )
    assert reshares.json()["elements"][0]["count"] == 2
    followers = await sim_http.get(
        "/linkedin/rest/memberFollowersCount", headers=headers, params={"q": "me"}
    )
    assert followers.json()["elements"] == [{"memberFollowersCount": 42}]


async def test_error_shapes(sim_http: httpx.AsyncClient) -> None:
    member = await _member(sim_http)
    long = await sim_http.post(
        "/linkedin/rest/posts",
        headers=_headers(member["token"]),
        json=_post(member["urn"], "x" * 3001),
    )
    assert long.status_code == 422
    assert {"serviceErrorCode", "message", "status"} <= set(long.json())
    old = await sim_http.post(
        "/linkedin/rest/posts",
        headers=_headers(member["token"], "202001"),
        json=_post(member["urn"], "x"),
    )
    assert old.status_code == 426 and old.json()["code"] == "NONEXISTENT_VERSION"
    await sim_http.post(f"/_sim/accounts/{member['id']}/revoke")
    revoked = await sim_http.post(
        "/linkedin/rest/posts", headers=_headers(member["token"]), json=_post(member["urn"], "x")
    )
    assert revoked.status_code == 401 and revoked.json()["status"] == 401


async def test_daily_limit_is_429_without_rate_headers_until_midnight(
    sim_http: httpx.AsyncClient,
) -> None:
    member = await _member(sim_http)
    await sim_http.post("/_sim/limits", json={"linkedin_member_daily": 2})
    answers = [
        await sim_http.post(
            "/linkedin/rest/posts",
            headers=_headers(member["token"]),
            json=_post(member["urn"], f"n{i}"),
        )
        for i in range(3)
    ]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert not [h for h in answers[2].headers if "rate" in h.lower() or h == "retry-after"]
    await sim_http.post("/_sim/clock", json={"advance_seconds": 86400})
    later = await sim_http.post(
        "/linkedin/rest/posts", headers=_headers(member["token"]), json=_post(member["urn"], "n")
    )
    assert later.status_code == 201


async def test_image_upload_then_post(sim_http: httpx.AsyncClient, sim_state: SimState) -> None:
    member = await _member(sim_http)
    headers = _headers(member["token"])
    started = await sim_http.post(
        "/linkedin/rest/images?action=initializeUpload",
        headers=headers,
        json={"initializeUploadRequest": {"owner": member["urn"]}},
    )
    value = started.json()["value"]
    image = value["image"]
    early = await sim_http.post(
        "/linkedin/rest/posts",
        headers=headers,
        json=_post(member["urn"], "pic", {"media": {"id": image}}),
    )
    assert early.status_code == 422
    png = (await sim_http.get("/_sim/images/a.png")).content
    put = await sim_http.put(
        value["uploadUrl"].removeprefix("http://sim"),
        headers={"Authorization": f"Bearer {member['token']}"},
        content=png,
    )
    assert put.status_code == 201
    posted = await sim_http.post(
        "/linkedin/rest/posts",
        headers=headers,
        json=_post(member["urn"], "pic", {"media": {"id": image}}),
    )
    assert posted.status_code == 201
    assert sim_state.media[image.rsplit(":", 1)[-1]].size == len(png)


async def test_oauth_code_exchange_and_partner_refresh(sim_http: httpx.AsyncClient) -> None:
    member = await _member(sim_http)
    apps = []
    for partner in (False, True):
        made = await sim_http.post(
            "/_sim/apps",
            json={"network": "linkedin", "redirect_uris": [REDIRECT], "partner": partner},
        )
        apps.append(made.json())
    answers = []
    for app in apps:
        allowed = await sim_http.get(
            "/linkedin/oauth/v2/authorization",
            params={
                "response_type": "code",
                "client_id": app["client_id"],
                "redirect_uri": REDIRECT,
                "state": "st",
                "scope": "openid profile w_member_social",
                "sim_account": member["id"],
            },
        )
        code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        }
        answers.append(await sim_http.post("/linkedin/oauth/v2/accessToken", data=form))
    plain, partner = (a.json() for a in answers)
    assert plain["expires_in"] == 60 * 86400 and "refresh_token" not in plain
    assert partner["refresh_token_expires_in"] == 365 * 86400
    me = await sim_http.get(
        "/linkedin/v2/userinfo", headers={"Authorization": f"Bearer {plain['access_token']}"}
    )
    assert me.json()["sub"] == member["id"]
    await sim_http.post("/_sim/clock", json={"advance_seconds": 60 * 86400})
    expired = await sim_http.get(
        "/linkedin/v2/userinfo", headers={"Authorization": f"Bearer {plain['access_token']}"}
    )
    assert expired.status_code == 401
    for app, token, status in ((apps[0], "x", 400), (apps[1], partner["refresh_token"], 200)):
        refreshed = await sim_http.post(
            "/linkedin/oauth/v2/accessToken",
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        assert refreshed.status_code == status
    assert abs(refreshed.json()["refresh_token_expires_in"] - 305 * 86400) <= 2
