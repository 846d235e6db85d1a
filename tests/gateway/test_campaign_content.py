"""A campaign's per-network variants and its preview, on the real database: each network's
limit refused with its own reason (counted its own way), variants only for the campaign's
networks, nothing written on a 422, and `POST /v1/campaigns:preview` answering the same
preview or the same 422 with no effect at all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from chorus.common.db import Database
from chorus.common.models import Campaign, IdempotencyRecord, OutboxEvent
from tests.factories import Org

pytestmark = pytest.mark.integration

URL = "https://example.com/launch"  # 26 characters; X and Mastodon count it as 23
GOOD: dict[str, Any] = {"title": "Launch", "url": URL, "message": "We shipped!"}
THUMB = "\U0001f44d\U0001f3fd"  # one grapheme, two code points, 8 bytes
CJK = "字"


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _written(db: Database) -> tuple[int, int, int]:
    async with db.sessions() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (Campaign, OutboxEvent, IdempotencyRecord)
        ]
    return (int(counts[0] or 0), int(counts[1] or 0), int(counts[2] or 0))


# (network, message that just fits, one more unit, how it is counted, its length then)
LIMITS = [
    # 255 + 2 newlines + the URL as 23 = 280, whatever the URL's own length.
    ("x", "a" * 255, "a" * 256, "weighted characters", 281),
    # CJK weighs 2: 127 * 2 + 1 + 2 + 23 = 280 fits, 128 * 2 + 25 = 281 does not.
    ("x", CJK * 127 + "a", CJK * 128, "weighted characters", 281),
    # An emoji with a skin tone is one grapheme: 272 + 2 + 26 = 300.
    ("bluesky", THUMB * 272, THUMB * 273, "graphemes", 301),
    # Links count as 23 on Mastodon too: 475 + 2 + 23 = 500.
    ("mastodon", "m" * 475, "m" * 476, "characters", 501),
    ("linkedin", "l" * 3000, "l" * 3001, "characters", 3001),
]


@pytest.mark.parametrize(
    ("network", "fits", "too_long", "counted", "length"),
    LIMITS,
    ids=[f"{n}-{c}" for n, _f, _t, c, _l in LIMITS],
)
async def test_each_networks_limit_is_refused_with_its_own_reason(
    api: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    network: str,
    fits: str,
    too_long: str,
    counted: str,
    length: int,
) -> None:
    body = {**GOOD, "networks": [network], "message": too_long}
    refused = await api.post("/v1/campaigns", json=body, headers=_auth(org))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    [error] = refused.json()["errors"]
    assert error["network"] == network and error["field"] == "message"
    assert (error["counted"], error["length"], error["limit"]) == (counted, length, length - 1)
    assert error["location"] == ["body", "message"] and network in error["message"]
    assert await _written(clean_db) == (0, 0, 0)

    created = await api.post("/v1/campaigns", json={**body, "message": fits}, headers=_auth(org))
    assert created.status_code == 201, created.text
    preview = created.json()["preview"][network]
    assert preview["length"] == preview["limit"] == length - 1
    assert preview["counted"] == counted and preview["text"].startswith(fits)


async def test_every_network_that_cannot_take_it_is_named_and_nothing_is_written(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    body = {
        **GOOD,
        "networks": ["mastodon", "x", "bluesky", "facebook"],
        "message": "m" * 600,
        "images": [{"url": "https://example.com/i.png"}] * 4,
    }
    response = await api.post("/v1/campaigns", json=body, headers=_auth(org))
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {(e["network"], e["counted"]) for e in errors} == {
        ("mastodon", "characters"),
        ("x", "weighted characters"),
        ("bluesky", "graphemes"),
    }
    assert all(e["length"] > e["limit"] for e in errors)
    assert await _written(clean_db) == (0, 0, 0)


async def test_a_variant_is_what_its_network_gets_and_the_campaign_shows_it(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    body = {
        **GOOD,
        # Too long for X, fine on Mastodon: X gets its own text.
        "message": "m" * 400,
        "networks": ["mastodon", "x"],
        "variants": {"x": {"message": f"  Out now {THUMB} "}},
    }
    created = await api.post("/v1/campaigns", json=body, headers=_auth(org))
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["variants"] == {"x": {"message": f"Out now {THUMB}"}}
    assert campaign["preview"]["x"] == {
        "text": f"Out now {THUMB}\n\n{URL}",
        # 8 characters, one emoji as 2, two newlines, the URL as 23.
        "length": 8 + 2 + 2 + 23,
        "limit": 280,
        "counted": "weighted characters",
        "note": None,
    }
    mastodon = campaign["preview"]["mastodon"]
    assert mastodon["text"] == f"{'m' * 400}\n\n{URL}" and mastodon["limit"] == 500
    assert "default" in mastodon["note"] and "/api/v2/instance" in mastodon["note"]
    read = await api.get(f"/v1/campaigns/{campaign['id']}", headers=_auth(org))
    assert read.status_code == 200
    assert read.json()["variants"] == campaign["variants"]
    assert read.json()["preview"] == campaign["preview"]
    async with clean_db.sessions() as session:
        stored = await session.scalar(select(Campaign.variants))
    assert stored == {"x": {"message": f"Out now {THUMB}"}}


VARIANT_PROBLEMS: list[tuple[str, dict[str, Any], list[str | int]]] = [
    (
        "a network the campaign is not posted to",
        {"networks": ["mastodon"], "variants": {"x": {"message": "Hi"}}},
        ["body", "variants"],
    ),
    (
        "a network Chorus cannot post to",
        {"networks": ["mastodon"], "variants": {"myspace": {"message": "Hi"}}},
        ["body", "variants", "myspace", "[key]"],
    ),
    (
        "an empty variant",
        {"networks": ["x"], "variants": {"x": {"message": "   "}}},
        ["body", "variants", "x", "message"],
    ),
    (
        "an unknown field",
        {"networks": ["x"], "variants": {"x": {"message": "Hi", "title": "No"}}},
        ["body", "variants", "x", "title"],
    ),
    (
        "a variant too long for its network",
        {"networks": ["mastodon", "x"], "variants": {"x": {"message": CJK * 128}}},
        ["body", "variants", "x", "message"],
    ),
]


@pytest.mark.parametrize(
    ("case", "fields", "location"), VARIANT_PROBLEMS, ids=[v[0] for v in VARIANT_PROBLEMS]
)
async def test_variants_are_checked_and_a_bad_one_writes_nothing(
    api: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    case: str,
    fields: dict[str, Any],
    location: list[str | int],
) -> None:
    for path in ("/v1/campaigns", "/v1/campaigns:preview"):
        response = await api.post(path, json={**GOOD, **fields}, headers=_auth(org))
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert location in [e["location"] for e in response.json()["errors"]], response.text
    assert await _written(clean_db) == (0, 0, 0)


async def test_the_preview_answers_what_creating_would_and_changes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    body = {
        **GOOD,
        "networks": ["x", "bluesky", "linkedin"],
        "variants": {"linkedin": {"message": "A longer word (for LinkedIn) #launch"}},
    }
    headers = {**_auth(org), "Idempotency-Key": "typing-1"}
    preview = await api.post("/v1/campaigns:preview", json=body, headers=headers)
    assert preview.status_code == 200, preview.text
    # Without effect, the key takes no part: the edited text answers its own preview.
    edited = {**body, "message": "We shipped, at last!"}
    again = await api.post("/v1/campaigns:preview", json=edited, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["preview"]["x"]["text"].startswith("We shipped, at last!")
    too_long = {**body, "message": "a" * 300}
    refused = await api.post("/v1/campaigns:preview", json=too_long, headers=headers)
    assert refused.status_code == 422
    assert await _written(clean_db) == (0, 0, 0)

    created = await api.post("/v1/campaigns", json=body, headers=_auth(org))
    assert created.status_code == 201
    assert created.json()["preview"] == preview.json()["preview"]
    assert preview.json()["preview"]["linkedin"]["text"] == body["variants"]["linkedin"]["message"]
    create_refused = await api.post("/v1/campaigns", json=too_long, headers=_auth(org))
    assert create_refused.json()["errors"] == refused.json()["errors"]


async def test_the_preview_needs_an_api_key(api: httpx.AsyncClient, clean_db: Database) -> None:
    response = await api.post("/v1/campaigns:preview", json={**GOOD, "networks": ["x"]})
    assert response.status_code == 401
    assert await _written(clean_db) == (0, 0, 0)
