"""The campaign lifecycle routes on the real database: listed and paged, cancelled, retried,
its shares listed; and none of it reachable with another organisation's key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from chorus.common.db import Database
from chorus.common.shares import (
    Cancelled,
    Published,
    claim_many,
    record_outcomes,
    stage_campaign,
    still_wanted,
)
from tests.factories import Org, make_campaign, make_org, share_rows

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _campaign(
    db: Database,
    org: Org,
    *,
    status: str = "scheduled",
    networks: tuple[str, ...] = ("mastodon",),
    created_at: datetime | None = None,
) -> uuid.UUID:
    campaign_id = await make_campaign(db, org=org, networks=networks)
    async with db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE campaigns SET status = CAST(:s AS text), "
                "created_at = COALESCE(CAST(:at AS timestamptz), created_at), "
                "completed_at = CASE WHEN CAST(:s AS text) = 'completed' THEN now() END "
                "WHERE id = :c"
            ),
            {"s": status, "at": created_at, "c": campaign_id},
        )
    return campaign_id


async def _shares(
    db: Database, org: Org, campaign_id: uuid.UUID, specs: list[tuple[str, str]], **extra: Any
) -> list[uuid.UUID]:
    """A colleague with an account per (share status, account status); the share ids."""
    ids = []
    async with db.sessions.begin() as session:
        for i, (status, account_status) in enumerate(specs):
            amb = await session.scalar(
                text(
                    "INSERT INTO ambassadors (org_id, external_id, display_name) "
                    "VALUES (:org, :e, :n) RETURNING id"
                ),
                {"org": org.id, "e": f"emp-{i}-{uuid.uuid4().hex[:4]}", "n": f"Colleague {i}"},
            )
            account = await session.scalar(
                text(
                    "INSERT INTO accounts (org_id, ambassador_id, network, handle, base_url, "
                    "remote_key, credentials, status) VALUES (:org, :amb, 'mastodon', :h, "
                    "'https://m.example', :k, '', :st) RETURNING id"
                ),
                {
                    "org": org.id,
                    "amb": amb,
                    "h": f"h{i}",
                    "k": uuid.uuid4().hex,
                    "st": account_status,
                },
            )
            ids.append(
                await session.scalar(
                    text(
                        "INSERT INTO shares (org_id, campaign_id, account_id, network, status, "
                        "idempotency_key, attempts, first_attempt_at, reason, remote_url) "
                        "VALUES (:org, :c, :a, 'mastodon', :s, :k, :n, :first, :r, :u) "
                        "RETURNING id"
                    ),
                    {
                        "org": org.id,
                        "c": campaign_id,
                        "a": account,
                        "s": status,
                        "k": f"chorus-{i}-{uuid.uuid4().hex[:6]}",
                        "n": extra.get("attempts", 0),
                        "first": T0 if status in ("failed", "published") else None,
                        "r": f"why {i}" if status in ("failed", "manual") else None,
                        "u": f"https://m.example/@h{i}/{i}"
                        if status in ("published", "manual")
                        else None,
                    },
                )
            )
    return ids


async def _completed_events(db: Database) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(
                text("SELECT count(*) FROM outbox WHERE message_type = 'CampaignCompleted'")
            )
            or 0
        )


async def _cancelled_events(db: Database) -> list[dict[str, Any]]:
    async with db.sessions() as session:
        rows = await session.scalars(
            text("SELECT payload FROM outbox WHERE message_type = 'CampaignCancelled'")
        )
        return [dict(r) for r in rows]


async def _statuses(db: Database, campaign_id: uuid.UUID) -> dict[uuid.UUID, str]:
    return {s.id: s.status for s in await share_rows(db, campaign_id)}


async def _pages(api: httpx.AsyncClient, org: Org, url: str, **params: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(url, params=query, headers=_auth(org))
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


# Listing


async def test_pages_list_every_campaign_once_newest_first_even_with_inserts(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    # Three share one created_at: the id breaks the tie, so none is skipped or repeated.
    times = [T0, T0, T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2), T0 - timedelta(days=1)]
    made = [await _campaign(clean_db, org, created_at=at) for at in times]
    first = await api.get("/v1/campaigns", params={"limit": 2}, headers=_auth(org))
    body = first.json()
    assert len(body["items"]) == 2 and body["next_cursor"]
    # A campaign created while the CMS pages: it is newer than the cursor, so it shows up on
    # no later page, and nothing shifts.
    await _campaign(clean_db, org, created_at=T0 + timedelta(days=1))
    seen = [item["id"] for item in body["items"]]
    cursor = body["next_cursor"]
    while cursor:
        page = (
            await api.get(
                "/v1/campaigns", params={"limit": 2, "cursor": cursor}, headers=_auth(org)
            )
        ).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == sorted(str(c) for c in made) and len(seen) == len(set(seen))
    order = {str(c): at for c, at in zip(made, times, strict=True)}
    assert [order[s] for s in seen] == sorted(times, reverse=True)
    whole = await _pages(api, org, "/v1/campaigns", limit=200)
    assert len(whole) == 1 and len(whole[0]) == 7


async def test_filters_by_status_network_and_creation_time(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    old = await _campaign(clean_db, org, status="completed", created_at=T0 - timedelta(days=2))
    both = await _campaign(
        clean_db, org, networks=("mastodon", "bluesky"), created_at=T0 - timedelta(days=1)
    )
    now = await _campaign(clean_db, org, status="cancelled", networks=("bluesky",), created_at=T0)
    await _shares(clean_db, org, both, [("published", "connected"), ("planned", "connected")])

    async def ids(**params: Any) -> set[str]:
        return {
            i for page in await _pages(api, org, "/v1/campaigns", limit=1, **params) for i in page
        }

    assert await ids() == {str(old), str(both), str(now)}
    assert await ids(status="completed") == {str(old)}
    assert await ids(status=["completed", "cancelled"]) == {str(old), str(now)}
    assert await ids(network="bluesky") == {str(both), str(now)}
    assert await ids(created_from=(T0 - timedelta(days=1)).isoformat()) == {str(both), str(now)}
    assert await ids(created_to=T0.isoformat()) == {str(old), str(both)}
    assert await ids(network="mastodon", status="scheduled", created_to=T0.isoformat()) == {
        str(both)
    }
    page = (
        await api.get("/v1/campaigns", params={"network": "mastodon"}, headers=_auth(org))
    ).json()
    listed = {item["id"]: item for item in page["items"]}
    assert listed[str(both)]["shares"] == {
        "total": 2,
        "open": 1,
        "by_status": {"published": 1, "planned": 1},
        "by_network": {"mastodon": {"published": 1, "planned": 1}, "bluesky": {}},
    }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"status": "paused"},
        {"network": "myspace"},
        {"created_from": "2026-11-01T12:00:00"},  # no offset: which 12:00?
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJub3QgYSBkYXRlIiwgInh4Il0"},  # ["not a date", "xx"]
    ],
)
async def test_bad_list_parameters_are_a_422_problem(
    api: httpx.AsyncClient, org: Org, params: dict[str, Any]
) -> None:
    response = await api.get("/v1/campaigns", params=params, headers=_auth(org))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


# Cancel


async def test_cancel_stops_what_is_not_posted_and_keeps_what_is(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org)
    planned, queued, published, claimed = await _shares(
        clean_db,
        org,
        campaign_id,
        [
            ("planned", "connected"),
            ("queued", "connected"),
            ("published", "connected"),
            ("queued", "connected"),
        ],
    )
    # One share is claimed by a publisher just before the cancel: its call is still to come.
    async with clean_db.engine.begin() as conn:
        (claim,) = await claim_many(
            session=conn, requests=[(claimed, org.id)], lease=timedelta(minutes=5)
        )
    assert claim is not None
    response = await api.post(f"/v1/campaigns/{campaign_id}/cancel", headers=_auth(org))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["shares"]["by_status"] == {"cancelled": 2, "published": 1, "publishing": 1}
    cancelled_at = datetime.fromisoformat(body["cancelled_at"])
    assert abs(cancelled_at - datetime.now(UTC)) < timedelta(minutes=1)
    # The CMS is told once (webhook campaign.cancelled), with what was cancelled.
    [event] = await _cancelled_events(clean_db)
    assert event["campaign_id"] == str(campaign_id) and event["org_id"] == str(org.id)
    assert event["shares_cancelled"] == 2
    assert datetime.fromisoformat(event["cancelled_at"]) == cancelled_at
    assert await _statuses(clean_db, campaign_id) == {
        planned: "cancelled",
        queued: "cancelled",
        published: "published",
        claimed: "publishing",
    }
    reasons = {s.id: s.reason for s in await share_rows(clean_db, campaign_id)}
    assert reasons[planned] == reasons[queued] == "the campaign was cancelled"
    async with clean_db.engine.begin() as conn:
        # The publisher's check just before its call: the claimed share does not post...
        assert await still_wanted(session=conn, claims=[claim.claim]) == [
            "the campaign was cancelled"
        ]
        # ...and a queued share's message, delivered after the cancel, claims nothing.
        assert await claim_many(
            session=conn, requests=[(queued, org.id)], lease=timedelta(minutes=5)
        ) == [None]
    again = await api.post(f"/v1/campaigns/{campaign_id}/cancel", headers=_auth(org))
    assert again.status_code == 200 and again.json() == body
    assert len(await _cancelled_events(clean_db)) == 1  # the second cancel changed nothing
    # The publisher records what its check said: the campaign stays cancelled, never
    # "completed", and says nothing to the CMS about completing.
    async with clean_db.engine.begin() as conn:
        assert await record_outcomes(
            session=conn, outcomes=[Cancelled(claim.claim, "the campaign was cancelled")]
        ) == [True]
    final = (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()
    assert final["status"] == "cancelled" and final["shares"]["open"] == 0
    assert await _completed_events(clean_db) == 0


async def test_cancel_before_staging_means_it_is_never_staged(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="accepted")
    response = await api.post(f"/v1/campaigns/{campaign_id}/cancel", headers=_auth(org))
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    async with clean_db.sessions.begin() as session:
        assert await stage_campaign(session=session, campaign_id=campaign_id, org_id=org.id) is None


async def test_a_completed_campaign_has_nothing_to_cancel(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="completed")
    await _shares(clean_db, org, campaign_id, [("published", "connected")])
    response = await api.post(f"/v1/campaigns/{campaign_id}/cancel", headers=_auth(org))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "completed" in response.json()["detail"]
    report = (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()
    assert report["status"] == "completed"


# Retry


async def test_retry_plans_only_failed_shares_again_with_the_same_keys(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="completed")
    failed, published, reauth, revoked, manual = await _shares(
        clean_db,
        org,
        campaign_id,
        [
            ("failed", "connected"),
            ("published", "connected"),
            ("failed", "needs_reauth"),
            ("failed", "revoked"),
            ("manual", "connected"),
        ],
        attempts=5,
    )
    before = {s.id: s for s in await share_rows(clean_db, campaign_id)}
    response = await api.post(f"/v1/campaigns/{campaign_id}/retry", headers=_auth(org))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["retried"], body["skipped_needs_reauth"], body["skipped_disconnected"]) == (
        1,
        1,
        1,
    )
    assert body["campaign"]["status"] == "scheduled"
    assert body["campaign"]["completed_at"] is None
    after = {s.id: s for s in await share_rows(clean_db, campaign_id)}
    assert {i: s.status for i, s in after.items()} == {
        failed: "planned",
        published: "published",
        reauth: "failed",
        revoked: "failed",
        manual: "manual",
    }
    retried = after[failed]
    assert retried.attempts == 0 and retried.planned_at <= datetime.now(UTC)
    # What keeps a retry from posting twice is untouched.
    assert retried.idempotency_key == before[failed].idempotency_key
    assert retried.first_attempt_at == before[failed].first_attempt_at == T0
    assert after[published].remote_url == before[published].remote_url
    # Asked again: nothing more to retry.
    again = (await api.post(f"/v1/campaigns/{campaign_id}/retry", headers=_auth(org))).json()
    assert (again["retried"], again["skipped_needs_reauth"]) == (0, 1)
    # The retried share is posted: the campaign completes again, and says so again.
    async with clean_db.engine.begin() as conn:
        (claim,) = await claim_many(
            session=conn, requests=[(failed, org.id)], lease=timedelta(minutes=5)
        )
        assert claim is not None and claim.attempted_before  # looked up before posting
        await record_outcomes(session=conn, outcomes=[Published(claim.claim, "r1", None)])
    done = (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()
    assert done["status"] == "completed" and done["completed_at"] is not None
    assert await _completed_events(clean_db) == 1


async def test_retries_racing_retry_each_share_once(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="completed")
    await _shares(clean_db, org, campaign_id, [("failed", "connected")] * 4)
    url = f"/v1/campaigns/{campaign_id}/retry"
    answers = await asyncio.gather(*(api.post(url, headers=_auth(org)) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert sorted(a.json()["retried"] for a in answers) == [0, 0, 0, 4]


async def test_retry_takes_a_reconnected_account_and_refuses_a_cancelled_campaign(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="completed")
    (reauth,) = await _shares(clean_db, org, campaign_id, [("failed", "needs_reauth")])
    first = (await api.post(f"/v1/campaigns/{campaign_id}/retry", headers=_auth(org))).json()
    assert (first["retried"], first["skipped_needs_reauth"]) == (0, 1)
    assert first["campaign"]["status"] == "completed"  # nothing retried, nothing reopened
    async with clean_db.sessions.begin() as session:
        await session.execute(text("UPDATE accounts SET status = 'connected'"))
    second = (await api.post(f"/v1/campaigns/{campaign_id}/retry", headers=_auth(org))).json()
    assert (second["retried"], second["skipped_needs_reauth"]) == (1, 0)
    assert (await _statuses(clean_db, campaign_id))[reauth] == "planned"

    cancelled = await _campaign(clean_db, org, status="cancelled")
    (kept,) = await _shares(clean_db, org, cancelled, [("failed", "connected")])
    refused = await api.post(f"/v1/campaigns/{cancelled}/retry", headers=_auth(org))
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await _statuses(clean_db, cancelled))[kept] == "failed"


# Shares


async def test_shares_are_paged_one_by_one_with_what_the_cms_shows(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org)
    made = await _shares(
        clean_db,
        org,
        campaign_id,
        [
            ("published", "connected"),
            ("failed", "connected"),
            ("manual", "connected"),
            ("planned", "connected"),
            ("cancelled", "connected"),
        ],
    )
    url = f"/v1/campaigns/{campaign_id}/shares"
    pages = await _pages(api, org, url, limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [i for page in pages for i in page]
    assert sorted(seen) == sorted(str(s) for s in made) and len(set(seen)) == 5
    items = {
        item["status"]: item
        for item in (await api.get(url, params={"limit": 200}, headers=_auth(org))).json()["items"]
    }
    published = items["published"]
    assert published["colleague"]["name"] == "Colleague 0"
    assert published["colleague"]["external_id"].startswith("emp-0-")
    assert published["network"] == "mastodon" and published["handle"] == "h0"
    assert published["post_url"] == "https://m.example/@h0/0" and published["reason"] is None
    assert items["failed"]["reason"] == "why 1" and items["failed"]["post_url"] is None
    assert items["manual"]["share_link"] == "https://m.example/@h2/2"
    assert items["manual"]["post_url"] is None
    assert items["planned"]["planned_at"] and items["planned"]["reason"] is None
    only = (await api.get(url, params={"status": "failed"}, headers=_auth(org))).json()
    assert [i["id"] for i in only["items"]] == [str(made[1])]
    bad = await api.get(url, params={"cursor": "WyJ4Il0"}, headers=_auth(org))  # ["x"]
    assert bad.status_code == 422


# Organisations


async def test_another_organisations_campaign_answers_404_on_every_route(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = await _campaign(clean_db, org, status="completed")
    (failed,) = await _shares(clean_db, org, campaign_id, [("failed", "connected")])
    other = await make_org(clean_db, name="other")
    for method, path in [
        ("GET", ""),
        ("GET", "/shares"),
        ("POST", "/cancel"),
        ("POST", "/retry"),
    ]:
        response = await api.request(
            method, f"/v1/campaigns/{campaign_id}{path}", headers=_auth(other)
        )
        assert response.status_code == 404, (method, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No such campaign for this organisation."
        unknown = await api.request(
            method, f"/v1/campaigns/{uuid.uuid4()}{path}", headers=_auth(org)
        )
        assert unknown.status_code == 404, (method, path)
    listed = (await api.get("/v1/campaigns", headers=_auth(other))).json()
    assert listed == {"items": [], "next_cursor": None}
    # A cursor from one organisation's listing shows another nothing of the first's.
    await _campaign(clean_db, org)
    cursor = (await api.get("/v1/campaigns", params={"limit": 1}, headers=_auth(org))).json()[
        "next_cursor"
    ]
    borrowed = await api.get("/v1/campaigns", params={"cursor": cursor}, headers=_auth(other))
    assert borrowed.json()["items"] == []
    report = (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()
    assert report["status"] == "completed"
    assert (await _statuses(clean_db, campaign_id))[failed] == "failed"


# The contract


async def test_the_lifecycle_routes_are_documented(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    posts = {400, 401, 404, 409, 422, 429, 500}
    expected = {
        ("get", "/v1/campaigns"): {200, 401, 422, 429, 500},
        ("get", "/v1/campaigns/{campaign_id}"): {200, 401, 404, 422, 429, 500},
        ("post", "/v1/campaigns/{campaign_id}/cancel"): {200} | posts,
        ("post", "/v1/campaigns/{campaign_id}/retry"): {200} | posts,
        ("get", "/v1/campaigns/{campaign_id}/shares"): {200, 401, 404, 422, 429, 500},
    }
    for (method, path), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert {int(s) for s in responses} == statuses, (method, path)
        for status in statuses - {200}:
            content = responses[str(status)]["content"]["application/problem+json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ProblemDetail"}
            assert content["example"]["status"] == status, (method, path, status)
    for name in ("CampaignOut", "CampaignSummary", "CampaignPage", "ShareOut", "SharePage"):
        assert schemas[name]["examples"], name
    assert schemas["RetryOut"]["examples"]
    assert "cancelled" in schemas["CampaignStatus"]["enum"]
    assert "manual" in schemas["ShareStatus"]["enum"]
    listed = {p["name"]: p for p in paths["/v1/campaigns"]["get"]["parameters"]}
    assert listed["limit"]["schema"]["maximum"] == 200
    assert set(listed) >= {"status", "network", "created_from", "created_to", "cursor"}
