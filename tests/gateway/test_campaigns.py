"""POST/GET /v1/campaigns on the real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.db import Database
from chorus.common.models import Campaign, OutboxEvent
from chorus.common.shares import settle_campaigns
from tests.factories import Org, make_org

pytestmark = pytest.mark.integration

GOOD = {
    "title": "Launch",
    "url": "https://example.com/launch",
    "message": "We shipped!",
    "networks": ["mastodon"],
}


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _rows(db: Database) -> tuple[int, int]:
    async with db.sessions() as session:
        campaigns = await session.scalar(select(func.count()).select_from(Campaign))
        events = await session.scalar(select(func.count()).select_from(OutboxEvent))
    return int(campaigns or 0), int(events or 0)


async def test_create_writes_campaign_and_event_together(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    response = await api.post("/v1/campaigns", json=GOOD, headers=_auth(org))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "accepted" and body["shares"]["total"] == 0
    assert response.headers["location"] == f"/v1/campaigns/{body['id']}"
    async with clean_db.sessions() as session:
        event = await session.scalar(select(OutboxEvent))
    assert event is not None and event.routing_key == "campaign.created"
    assert event.payload == {"campaign_id": body["id"], "org_id": str(org.id)}


BAD: list[tuple[str, dict[str, str], Any, int]] = [
    ("malformed json", {}, b'{"title": "x",', 400),
    ("unknown network", {}, {**GOOD, "networks": ["myspace"]}, 422),
    ("too heavy for x", {}, {**GOOD, "networks": ["x"], "message": "字" * 200}, 422),
    ("too many images", {}, {**GOOD, "images": [{"url": "https://example.com/i.png"}] * 5}, 422),
    ("oversized text", {}, {**GOOD, "message": "x" * 600}, 422),
    ("missing field", {}, {k: v for k, v in GOOD.items() if k != "url"}, 422),
    ("extra field", {}, {**GOOD, "admin": True}, 422),
    ("not a url", {}, {**GOOD, "url": "javascript:alert(1)"}, 422),
    ("no networks", {}, {**GOOD, "networks": []}, 422),
    ("body too large", {}, {**GOOD, "message": "x" * 20_000}, 413),
    ("NUL in the message", {}, {**GOOD, "message": "We\u0000shipped"}, 422),
    ("NUL in the title", {}, {**GOOD, "title": "La\u0000unch"}, 422),
    ("line break in the title", {}, {**GOOD, "title": "La\nunch"}, 422),
    (
        "lone surrogate",
        {},
        b'{"title": "x", "url": "https://e.com", "message": "\\ud800", "networks": ["mastodon"]}',
        422,
    ),
    ("control character", {}, {**GOOD, "message": "bell \u0007"}, 422),
    ("not json", {"Content-Type": "text/plain"}, b"hello", 415),
]


@pytest.mark.parametrize(("case", "headers", "body", "status"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_a_problem_and_writes_nothing(
    api: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    case: str,
    headers: dict[str, str],
    body: Any,
    status: int,
) -> None:
    all_headers = {**_auth(org), **headers}
    if isinstance(body, bytes):
        all_headers.setdefault("Content-Type", "application/json")
        response = await api.post("/v1/campaigns", content=body, headers=all_headers)
    else:
        response = await api.post("/v1/campaigns", json=body, headers=all_headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    assert "Traceback" not in response.text
    assert await _rows(clean_db) == (0, 0)


async def test_a_body_without_declared_length_is_refused(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "Launch", "url": "https://example.com/launch", '
        yield b'"message": "x", "networks": ["mastodon"]}'

    response = await api.post(
        "/v1/campaigns",
        content=chunks(),
        headers={**_auth(org), "Content-Type": "application/json"},
    )
    assert response.status_code == 411
    assert response.headers["content-type"] == "application/problem+json"
    assert await _rows(clean_db) == (0, 0)


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-key", "Basic abc"])
async def test_missing_or_wrong_key_is_401_and_writes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await api.post("/v1/campaigns", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert await _rows(clean_db) == (0, 0)


async def test_idempotency_key_replays_the_first_campaign(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    headers = {**_auth(org), "Idempotency-Key": "cms-42"}
    first = await api.post("/v1/campaigns", json=GOOD, headers=headers)
    again = await api.post("/v1/campaigns", json=GOOD, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await _rows(clean_db) == (1, 1)
    other = await api.post("/v1/campaigns", json={**GOOD, "title": "Other"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    assert await _rows(clean_db) == (1, 1)


async def test_an_organisation_never_sees_anothers_campaign(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    created = await api.post("/v1/campaigns", json=GOOD, headers=_auth(org))
    campaign_id = created.json()["id"]
    other = await make_org(clean_db, name="other")
    assert (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(other))).status_code == 404
    assert (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).status_code == 200
    unknown = await api.get(f"/v1/campaigns/{uuid.uuid4()}", headers=_auth(org))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_report_counts_shares_and_keeps_unavailable_apart_from_zero(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = (await api.post("/v1/campaigns", json=GOOD, headers=_auth(org))).json()["id"]
    async with clean_db.sessions.begin() as session:
        shares = await _insert_shares(
            session, org, campaign_id, ("published", "published", "failed")
        )
        for share in shares[:2]:
            await session.execute(
                text(
                    "INSERT INTO latest_metrics (org_id, share_id, campaign_id, network, "
                    "taken_at, reshares, likes, replies, impressions, followers) "
                    "VALUES (:org, :s, :c, 'mastodon', now(), 1, 2, 0, NULL, 100)"
                ),
                {"org": org.id, "s": share, "c": campaign_id},
            )
    report = (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()
    assert report["shares"] == {
        "total": 3,
        "open": 0,
        "by_status": {"published": 2, "failed": 1},
        "by_network": {"mastodon": {"published": 2, "failed": 1}},
    }
    assert report["reach"]["mastodon"] == {
        "shares_measured": 2,
        "potential_reach": 200,
        "reshares": 2,
        "likes": 4,
        "replies": 0,
        "impressions": None,
    }


async def test_campaign_is_completed_once_every_share_has_an_outcome(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    campaign_id = (await api.post("/v1/campaigns", json=GOOD, headers=_auth(org))).json()["id"]
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE campaigns SET status = 'scheduled' WHERE id = :c"), {"c": campaign_id}
        )
        await _insert_shares(session, org, campaign_id, ("published", "publishing", "failed"))

    async def report() -> Any:
        return (await api.get(f"/v1/campaigns/{campaign_id}", headers=_auth(org))).json()

    async def outcome_recorded() -> None:
        # What each outcome's transaction does last (chorus.common.shares).
        async with clean_db.sessions.begin() as session:
            await settle_campaigns(session, [uuid.UUID(campaign_id)])

    await outcome_recorded()
    assert (await report())["status"] == "scheduled"  # one share is still on its way
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'published' WHERE status = 'publishing'")
        )
    await outcome_recorded()
    await outcome_recorded()  # said once, however often asked
    done = await report()
    assert done["status"] == "completed" and done["completed_at"] is not None
    async with clean_db.sessions() as session:
        completed = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.message_type == "CampaignCompleted")
        )
    assert completed == 1


async def _insert_shares(
    session: AsyncSession, org: Org, campaign_id: str, statuses: tuple[str, ...]
) -> list[uuid.UUID]:
    """One ambassador with an account and a share per status; returns the share ids."""
    amb = await session.scalar(
        text(
            "INSERT INTO ambassadors (org_id, external_id, display_name) "
            "VALUES (:org, 'e1', 'E') RETURNING id"
        ),
        {"org": org.id},
    )
    shares = []
    for i, status in enumerate(statuses):
        account = await session.scalar(
            text(
                "INSERT INTO accounts (org_id, ambassador_id, network, handle, base_url, "
                "remote_key, credentials) VALUES (:org, :amb, 'mastodon', :h, 'http://m', "
                ":h, '') RETURNING id"
            ),
            {"org": org.id, "amb": amb, "h": f"h{i}"},
        )
        shares.append(
            await session.scalar(
                text(
                    "INSERT INTO shares (org_id, campaign_id, account_id, network, status, "
                    "idempotency_key) VALUES (:org, :c, :a, 'mastodon', :s, :k) RETURNING id"
                ),
                {"org": org.id, "c": campaign_id, "a": account, "s": status, "k": f"k{i}"},
            )
        )
    return shares


async def test_health_on_the_api_and_no_metrics_there(api: httpx.AsyncClient) -> None:
    health = await api.get("/healthz")
    assert health.status_code == 200 and "database ok\nschema ok" in health.text
    # Served on the ops port only (tests/gateway/test_ops_port.py).
    assert (await api.get("/metrics")).status_code == 404
