"""The simulator keeps X API v2's contract: 201 data, weighted length, duplicate 403,
x-rate-limit-* and 24-hour headers, media upload, OAuth 2 with PKCE and rotating refresh."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from chorus.netsim import SimState

TWEETS = "/x/2/tweets"
REDIRECT = "https://chorus.example/callback/x"


async def _account(sim: httpx.AsyncClient, followers: int = 7) -> dict[str, Any]:
    made = await sim.post(
        "/_sim/accounts", json={"network": "x", "username": "amb", "followers": followers}
    )
    account: dict[str, Any] = made.json()[0]
    return account


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_tweet_round_trip_with_metrics(sim_http: httpx.AsyncClient) -> None:
    account = await _account(sim_http)
    posted = await sim_http.post(TWEETS, headers=_auth(account["token"]), json={"text": "hello"})
    assert posted.status_code == 201
    tweet = posted.json()["data"]
    assert tweet["text"] == "hello" and tweet["id"].isdigit()
    assert int(posted.headers["x-rate-limit-reset"]) > time.time() - 60
    assert posted.headers["x-user-limit-24hour-remaining"] == "99"
    await sim_http.post(f"/_sim/posts/{tweet['id']}/counts", json={"likes": 3, "quotes": 1})
    looked = await sim_http.get(
        TWEETS,
        headers=_auth(account["token"]),
        params={"ids": f"{tweet['id']},1", "tweet.fields": "public_metrics"},
    )
    body = looked.json()
    [found] = body["data"]
    assert found["public_metrics"]["like_count"] == 3
    assert found["public_metrics"]["quote_count"] == 1
    assert {"retweet_count", "reply_count", "impression_count"} <= set(found["public_metrics"])
    assert body["errors"][0]["resource_id"] == "1"
    me = await sim_http.get(
        "/x/2/users/me", headers=_auth(account["token"]), params={"user.fields": "public_metrics"}
    )
    assert me.json()["data"]["public_metrics"]["followers_count"] == 7
    timeline = await sim_http.get(
        f"/x/2/users/{account['id']}/tweets",
        headers=_auth(account["token"]),
        params={"max_results": 5, "start_time": "2000-01-01T00:00:00Z"},
    )
    assert [t["id"] for t in timeline.json()["data"]] == [tweet["id"]]


async def test_length_duplicates_and_auth_errors(sim_http: httpx.AsyncClient) -> None:
    account = await _account(sim_http)
    headers = _auth(account["token"])
    fits = "x" * 256 + " https://example.com/a/very/long/path/that/counts/as/23"
    assert (await sim_http.post(TWEETS, headers=headers, json={"text": fits})).status_code == 201
    long = await sim_http.post(TWEETS, headers=headers, json={"text": "字" * 141})
    assert long.status_code == 403 and "too long" in long.json()["detail"]
    again = await sim_http.post(TWEETS, headers=headers, json={"text": fits})
    assert again.status_code == 403 and "duplicate content" in again.json()["detail"]
    anonymous = await sim_http.post(TWEETS, json={"text": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["status"] == 401
    assert "x-rate-limit-limit" in anonymous.headers
    too_many = await sim_http.get(TWEETS, headers=headers, params={"ids": ",".join("1" * 101)})
    assert too_many.status_code == 400


async def test_the_apps_24h_cap_is_shared_and_answers_429(sim_http: httpx.AsyncClient) -> None:
    await sim_http.post("/_sim/limits", json={"x_app_24h": 3, "x_user_24h": 2})
    first, second = await _account(sim_http), await _account(sim_http)
    codes = []
    for i, account in enumerate([first, first, first, second, second]):
        answer = await sim_http.post(
            TWEETS, headers=_auth(account["token"]), json={"text": f"n{i}"}
        )
        codes.append(answer.status_code)
    assert codes == [201, 201, 429, 201, 429]
    assert answer.json()["errors"][0]["code"] == 88
    assert answer.headers["x-app-limit-24hour-remaining"] == "0"
    assert int(answer.headers["x-app-limit-24hour-reset"]) % 86400 == 0


async def test_fault_429_and_expired_token(sim_http: httpx.AsyncClient) -> None:
    account = await _account(sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["429", "503"]})
    limited = await sim_http.post(TWEETS, headers=_auth(account["token"]), json={"text": "a"})
    assert limited.status_code == 429 and limited.headers["x-rate-limit-remaining"] == "0"
    failed = await sim_http.post(TWEETS, headers=_auth(account["token"]), json={"text": "a"})
    assert failed.status_code == 503
    await sim_http.post("/_sim/clock", json={"advance_seconds": 7200})
    expired = await sim_http.post(TWEETS, headers=_auth(account["token"]), json={"text": "a"})
    assert expired.status_code == 401


async def test_media_upload_then_tweet(sim_http: httpx.AsyncClient, sim_state: SimState) -> None:
    account = await _account(sim_http)
    png = (await sim_http.get("/_sim/images/campaign.png")).content
    uploaded = await sim_http.post(
        "/x/2/media/upload",
        headers=_auth(account["token"]),
        files={"media": ("c.png", png, "image/png")},
        data={"media_category": "tweet_image"},
    )
    assert uploaded.status_code == 200
    media_id = uploaded.json()["data"]["id"]
    assert sim_state.media[media_id].size == len(png)
    posted = await sim_http.post(
        TWEETS,
        headers=_auth(account["token"]),
        json={"text": "with image", "media": {"media_ids": [media_id]}},
    )
    assert posted.status_code == 201
    bogus = await sim_http.post(
        TWEETS,
        headers=_auth(account["token"]),
        json={"text": "other", "media": {"media_ids": ["404"]}},
    )
    assert bogus.status_code == 400
    listed = (await sim_http.get("/_sim/media", params={"network": "x"})).json()
    assert [m["id"] for m in listed] == [media_id]


async def test_oauth_pkce_and_rotating_refresh(sim_http: httpx.AsyncClient) -> None:
    account = await _account(sim_http)
    app = (
        await sim_http.post("/_sim/apps", json={"network": "x", "redirect_uris": [REDIRECT]})
    ).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "state": "s1",
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "scope": "tweet.read tweet.write users.read offline.access",
    }
    page = await sim_http.get("/x/i/oauth2/authorize", params=params)
    assert page.status_code == 200 and "Allow" in page.text
    allowed = await sim_http.get(
        "/x/i/oauth2/authorize", params={**params, "sim_account": account["id"]}
    )
    assert allowed.status_code == 302
    query = parse_qs(urlsplit(allowed.headers["location"]).query)
    assert query["state"] == ["s1"]
    form = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "redirect_uri": REDIRECT,
        "client_id": app["client_id"],
    }
    wrong = await sim_http.post(
        "/x/2/oauth2/token", data={**form, "code_verifier": "not-the-verifier"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_request"
    allowed = await sim_http.get(
        "/x/i/oauth2/authorize", params={**params, "sim_account": account["id"]}
    )
    form["code"] = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
    tokens = await sim_http.post("/x/2/oauth2/token", data={**form, "code_verifier": verifier})
    assert tokens.status_code == 200
    pair = tokens.json()
    assert pair["expires_in"] == 7200 and pair["token_type"] == "bearer"
    replay = await sim_http.post("/x/2/oauth2/token", data={**form, "code_verifier": verifier})
    assert replay.status_code == 400
    me = await sim_http.get("/x/2/users/me", headers=_auth(pair["access_token"]))
    assert me.json()["data"]["id"] == account["id"]
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": pair["refresh_token"],
        "client_id": app["client_id"],
    }
    rotated = await sim_http.post("/x/2/oauth2/token", data=refresh)
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != pair["refresh_token"]
    stale = await sim_http.post("/x/2/oauth2/token", data=refresh)
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_request"
    denied = await sim_http.get("/x/i/oauth2/authorize", params={**params, "sim_deny": "1"})
    assert "error=access_denied" in denied.headers["location"]
    unknown = await sim_http.get(
        "/x/i/oauth2/authorize", params={**params, "redirect_uri": "https://evil.example/"}
    )
    assert unknown.status_code == 400
