"""The simulator keeps Mastodon's contract: ids, errors, rate-limit headers and limits."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from chorus.netsim import SimState
from tests.factories import sim_accounts


def _auth(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def test_status_has_mastodon_shape_and_rate_headers(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    response = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"]), data={"status": "hi"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"].isdigit() and body["content"] == "<p>hi</p>"
    assert {"reblogs_count", "favourites_count", "replies_count", "url", "uri"} <= set(body)
    assert response.headers["X-RateLimit-Limit"] == "300"
    reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert reset.tzinfo is not None


async def test_the_301st_request_in_a_window_is_429(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    url = "/mastodon/api/v1/statuses"
    codes = [
        (await sim_http.post(url, headers=_auth(account["token"]), json={"status": f"n{i}"}))
        for i in range(301)
    ]
    assert all(r.status_code == 200 for r in codes[:300])
    assert codes[300].status_code == 429
    assert codes[300].headers["X-RateLimit-Remaining"] == "0"


async def test_timeout_fault_stores_the_post_before_hanging(
    sim_http: httpx.AsyncClient, sim_state: SimState
) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    request = sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"], "k1"), json={"status": "x"}
    )
    try:
        await asyncio.wait_for(request, timeout=0.5)
        raise AssertionError("the timeout fault answered in time")
    except TimeoutError:
        pass
    assert len(sim_state.posts) == 1
    again = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"], "k1"), json={"status": "x"}
    )
    assert again.status_code == 200 and len(sim_state.posts) == 1


async def test_duplicates_are_counted(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    for _ in range(3):
        await sim_http.post(
            "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": "same"}
        )
    stats = (await sim_http.get("/_sim/stats")).json()
    assert stats["posts"] == 3 and stats["duplicates"] == 2


async def test_errors_are_mastodon_shaped(sim_http: httpx.AsyncClient) -> None:
    response = await sim_http.post("/mastodon/api/v1/statuses", json={"status": "x"})
    assert response.status_code == 401 and response.json() == {
        "error": "The access token is invalid"
    }
    missing = await sim_http.get("/mastodon/api/v1/statuses/1")
    assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}
    [account] = await sim_accounts(sim_http, count=1)
    blank = await sim_http.post(
        "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": " "}
    )
    assert blank.status_code == 422 and "blank" in blank.json()["error"]


async def test_several_statuses_at_once_up_to_the_limit(sim_http: httpx.AsyncClient) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    ids = []
    for i in range(3):
        posted = await sim_http.post(
            "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": f"{i}"}
        )
        ids.append(posted.json()["id"])
    params = [("id[]", i) for i in [*ids, "404"]]
    found = await sim_http.get("/mastodon/api/v1/statuses", params=params)
    assert [s["id"] for s in found.json()] == ids
    too_many = await sim_http.get(
        "/mastodon/api/v1/statuses", params=[("id[]", str(i)) for i in range(21)]
    )
    assert too_many.status_code == 422


async def test_idempotency_keys_are_kept_for_an_hour_of_the_simulators_clock(
    sim_http: httpx.AsyncClient, sim_state: SimState
) -> None:
    [account] = await sim_accounts(sim_http, count=1)

    async def post() -> str:
        response = await sim_http.post(
            "/mastodon/api/v1/statuses",
            headers=_auth(account["token"], key="same"),
            json={"status": "hi"},
        )
        return str(response.json()["id"])

    first = await post()
    await sim_http.post("/_sim/clock", json={"advance_seconds": 3599})
    assert await post() == first
    await sim_http.post("/_sim/clock", json={"advance_seconds": 2})
    assert await post() != first  # forgotten, as Mastodon forgets it: a second post
    assert sim_state.duplicates() == 1


async def test_account_timeline_is_newest_first_with_linked_urls(
    sim_http: httpx.AsyncClient,
) -> None:
    [account] = await sim_accounts(sim_http, count=1)
    for text in ("one https://example.com/x", "two"):
        await sim_http.post(
            "/mastodon/api/v1/statuses", headers=_auth(account["token"]), json={"status": text}
        )
    timeline = await sim_http.get(
        f"/mastodon/api/v1/accounts/{account['id']}/statuses", params={"limit": 1}
    )
    [newest] = timeline.json()
    assert newest["content"] == "<p>two</p>"
    older = await sim_http.get(
        f"/mastodon/api/v1/accounts/{account['id']}/statuses", params={"max_id": newest["id"]}
    )
    [first] = older.json()
    assert first["content"].startswith('<p>one <a href="https://example.com/x"')
    missing = await sim_http.get("/mastodon/api/v1/accounts/0/statuses")
    assert missing.status_code == 404 and missing.json() == {"error": "Record not found"}
