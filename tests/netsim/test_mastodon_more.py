"""Mastodon beyond statuses: apps and OAuth with optional PKCE, asynchronous media, and an
instance whose character limit a test sets."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx

from chorus.netsim import SimState
from tests.factories import sim_accounts

REDIRECT = "https://chorus.example/callback/mastodon"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_app_registration_and_pkce_code_exchange(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    app = await sim_http.post(
        "/mastodon/api/v1/apps",
        data={"client_name": "Chorus", "redirect_uris": REDIRECT, "scopes": "read write"},
    )
    registered = app.json()
    assert registered["redirect_uris"] == [REDIRECT] and registered["client_secret"]
    verifier = "v" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    params = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "read write",
        "code_challenge": challenge.decode(),
        "code_challenge_method": "S256",
    }

    async def code() -> str:
        allowed = await sim_http.get(
            "/mastodon/oauth/authorize", params={**params, "sim_account": account["id"]}
        )
        assert allowed.status_code == 302
        return parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]

    form = {
        "grant_type": "authorization_code",
        "client_id": registered["client_id"],
        "client_secret": registered["client_secret"],
        "redirect_uri": REDIRECT,
    }
    wrong = await sim_http.post(
        "/mastodon/oauth/token", data={**form, "code": await code(), "code_verifier": "nope"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    issued = await sim_http.post(
        "/mastodon/oauth/token", data={**form, "code": await code(), "code_verifier": verifier}
    )
    token = issued.json()["access_token"]
    assert issued.json()["token_type"] == "Bearer"
    me = await sim_http.get("/mastodon/api/v1/accounts/verify_credentials", headers=_auth(token))
    assert me.json()["id"] == account["id"]
    await sim_http.post("/_sim/clock", json={"advance_seconds": 601})
    late = await code()
    await sim_http.post("/_sim/clock", json={"advance_seconds": 601})
    expired = await sim_http.post(
        "/mastodon/oauth/token", data={**form, "code": late, "code_verifier": verifier}
    )
    assert expired.status_code == 400


async def test_media_processes_then_attaches(
    sim_http: httpx.AsyncClient, sim_state: SimState
) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    await sim_http.post("/_sim/limits", json={"mastodon_media_processing_seconds": 30})
    png = (await sim_http.get("/_sim/images/m.png")).content
    uploaded = await sim_http.post(
        "/mastodon/api/v2/media",
        headers=_auth(account["token"]),
        files={"file": ("m.png", png, "image/png")},
        data={"description": "a square"},
    )
    assert uploaded.status_code == 202 and uploaded.json()["url"] is None
    media_id = uploaded.json()["id"]
    early = await sim_http.post(
        "/mastodon/api/v1/statuses",
        headers=_auth(account["token"]),
        data={"status": "pic", "media_ids[]": media_id},
    )
    assert early.status_code == 422 and "processing" in early.json()["error"]
    pending = await sim_http.get(
        f"/mastodon/api/v1/media/{media_id}", headers=_auth(account["token"])
    )
    assert pending.status_code == 206
    await sim_http.post("/_sim/clock", json={"advance_seconds": 30})
    ready = await sim_http.get(
        f"/mastodon/api/v1/media/{media_id}", headers=_auth(account["token"])
    )
    assert ready.status_code == 200 and ready.json()["url"]
    assert ready.json()["description"] == "a square"
    posted = await sim_http.post(
        "/mastodon/api/v1/statuses",
        headers=_auth(account["token"]),
        data={"status": "pic", "media_ids[]": media_id},
    )
    assert posted.status_code == 200
    assert [m["id"] for m in posted.json()["media_attachments"]] == [media_id]
    too_many = await sim_http.post(
        "/mastodon/api/v1/statuses",
        headers=_auth(account["token"]),
        json={"status": "five", "media_ids": [media_id] * 5},
    )
    assert too_many.status_code == 422


async def test_max_characters_is_set_per_simulator(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    text = "x" * 900
    refused = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": text}
    )
    assert refused.status_code == 422 and "500" in refused.json()["error"]
    await sim_http.post("/_sim/limits", json={"mastodon_max_characters": 1000})
    instance = await sim_http.get("/mastodon/api/v2/instance")
    assert instance.json()["configuration"]["statuses"]["max_characters"] == 1000
    accepted = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": text}
    )
    assert accepted.status_code == 200


async def test_revoked_token_is_401(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    await sim_http.post(f"/_sim/tokens/{account['token']}/revoke")
    answer = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": "x"}
    )
    assert answer.status_code == 401
