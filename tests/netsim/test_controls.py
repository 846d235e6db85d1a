"""The /_sim controls work the same for every network: accounts, posts and duplicates, faults
(a timeout stores the post, then hangs), revocation, limits, images and reset."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from chorus.netsim import SimState


async def _one(sim: httpx.AsyncClient, network: str, **extra: Any) -> dict[str, Any]:
    made = await sim.post("/_sim/accounts", json={"network": network, **extra})
    assert made.status_code == 200
    account: dict[str, Any] = made.json()[0]
    assert account["base_url"] == f"http://sim/{network}"
    return account


async def test_accounts_posts_and_stats_cover_every_network(sim_http: httpx.AsyncClient) -> None:
    x = await _one(sim_http, "x")
    page = await _one(sim_http, "facebook")
    assert page["kind"] == "page"
    for _ in range(2):
        await sim_http.post(
            "/facebook/v24.0/me/feed",
            json={"message": "same"},
            headers={"Authorization": f"Bearer {page['token']}"},
        )
    await sim_http.post(
        "/x/2/tweets", json={"text": "t"}, headers={"Authorization": f"Bearer {x['token']}"}
    )
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["duplicates"] == 1 and stats["posts"] == 3
    assert stats["by_network"]["facebook"] == {"posts": 2, "duplicates": 1}
    listed = (await sim_http.get("/_sim/posts", params={"network": "facebook"})).json()
    assert all(p["remote_id"].startswith(f"{page['id']}_") for p in listed)
    followers = await sim_http.post(f"/_sim/accounts/{x['id']}/followers", json={"followers": 9})
    assert followers.json() == {"followers": 9}
    await sim_http.post("/_sim/reset")
    assert (await sim_http.get("/_sim/stats")).json()["posts"] == 0


@pytest.mark.parametrize("network", ["x", "linkedin", "facebook"])
async def test_timeout_fault_stores_then_hangs(
    network: str, sim_http: httpx.AsyncClient, sim_state: SimState
) -> None:
    account = await _one(sim_http, network)
    headers = {
        "Authorization": f"Bearer {account['token']}",
        "LinkedIn-Version": "202601",
        "X-Restli-Protocol-Version": "2.0.0",
    }
    url, body = {
        "x": ("/x/2/tweets", {"text": "t"}),
        "linkedin": (
            "/linkedin/rest/posts",
            {
                "author": account.get("urn"),
                "commentary": "t",
                "visibility": "PUBLIC",
                "distribution": {"feedDistribution": "MAIN_FEED"},
                "lifecycleState": "PUBLISHED",
            },
        ),
        "facebook": ("/facebook/v24.0/me/feed", {"message": "t"}),
    }[network]
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sim_http.post(url, json=body, headers=headers), timeout=0.5)
    assert len(sim_state.posts) == 1


async def test_revoking_an_account_stops_every_token(sim_http: httpx.AsyncClient) -> None:
    user = await _one(sim_http, "facebook", kind="user", pages=1)
    [page] = user["pages"]
    revoked = await sim_http.post(f"/_sim/accounts/{page['id']}/revoke")
    assert revoked.json() == {"revoked": 1}
    answer = await sim_http.get(
        "/facebook/v24.0/me", headers={"Authorization": f"Bearer {page['token']}"}
    )
    assert answer.json()["error"]["code"] == 190
    x = await _one(sim_http, "x")
    await sim_http.post(f"/_sim/tokens/{x['token']}/revoke")
    me = await sim_http.get("/x/2/users/me", headers={"Authorization": f"Bearer {x['token']}"})
    assert me.status_code == 401


async def test_limits_images_and_apps(sim_http: httpx.AsyncClient) -> None:
    limits = await sim_http.post("/_sim/limits", json={"linkedin_versions": ["202601"]})
    assert limits.json()["linkedin_versions"] == ["202601"]
    assert (await sim_http.get("/_sim/limits")).json()["x_app_24h"] == 10_000
    first = await sim_http.get("/_sim/images/a.png")
    second = await sim_http.get("/_sim/images/b.png")
    assert first.headers["content-type"] == "image/png" and first.content != second.content
    app = await sim_http.post(
        "/_sim/apps", json={"network": "linkedin", "redirect_uris": ["https://c.example/cb"]}
    )
    assert {"client_id", "client_secret"} <= set(app.json())
    refused = await sim_http.post("/_sim/apps", json={"network": "myspace", "redirect_uris": []})
    assert refused.status_code == 422
