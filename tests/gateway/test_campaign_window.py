"""A campaign's window and audience through POST/GET /v1/campaigns, on the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from chorus.common.db import Database
from chorus.common.models import Campaign
from tests.factories import Org

pytestmark = pytest.mark.integration

GOOD = {
    "title": "Launch",
    "url": "https://example.com/launch",
    "message": "We shipped!",
    "networks": ["mastodon"],
}
SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


def _window(start: datetime, end: datetime) -> dict[str, str]:
    return {"starts_at": start.isoformat(), "ends_at": end.isoformat()}


BAD: list[tuple[str, Any]] = [
    ("ends before it starts", {"window": _window(SOON, SOON - timedelta(hours=1))}),
    ("ends when it starts", {"window": _window(SOON, SOON)}),
    ("ended already", {"window": _window(SOON - timedelta(days=3), SOON - timedelta(days=2))}),
    ("longer than 30 days", {"window": _window(SOON, SOON + timedelta(days=30, seconds=1))}),
    (
        "more than a year ahead",
        {"window": _window(SOON + timedelta(days=400), SOON + timedelta(days=401))},
    ),
    (
        "at the calendar's end",
        {
            "window": {
                "starts_at": "9999-12-31T20:00:00-05:00",
                "ends_at": "9999-12-31T22:00:00-05:00",
            }
        },
    ),
    ("no time zone", {"window": {"starts_at": "2030-01-01T08:00", "ends_at": "2030-01-02T08:00"}}),
    ("not a window", {"window": "tomorrow"}),
    ("seconds since 1970", {"window": {"starts_at": 1900000000, "ends_at": 1900086400}}),
    (
        "a space for the T",
        {"window": {"starts_at": "2030-01-01 08:00:00Z", "ends_at": "2030-01-02T08:00:00Z"}},
    ),
    ("window without its end", {"window": {"starts_at": SOON.isoformat()}}),
    ("no groups", {"audience": {"groups": []}}),
    ("too many groups", {"audience": {"groups": [f"g{i}" for i in range(101)]}}),
    ("an empty group name", {"audience": {"groups": [""]}}),
    ("no colleagues", {"audience": {"colleagues": []}}),
    ("groups and colleagues", {"audience": {"groups": ["a"], "colleagues": ["b"]}}),
    ("an unknown audience", {"audience": "everybody"}),
]


@pytest.mark.parametrize(("case", "extra"), BAD, ids=[b[0] for b in BAD])
async def test_a_bad_window_or_audience_is_a_problem_and_writes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database, case: str, extra: Any
) -> None:
    response = await api.post("/v1/campaigns", json={**GOOD, **extra}, headers=_auth(org))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    async with clean_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_the_window_and_audience_are_stored_and_shown(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    window = _window(SOON, SOON + timedelta(days=2))
    body = {**GOOD, "window": window, "audience": {"groups": ["sales", "comms", "sales"]}}
    created = await api.post("/v1/campaigns", json=body, headers=_auth(org))
    assert created.status_code == 201, created.text
    shown = (await api.get(f"/v1/campaigns/{created.json()['id']}", headers=_auth(org))).json()
    assert shown["audience"] == {"groups": ["comms", "sales"]}
    assert [datetime.fromisoformat(shown["window"][k]) for k in ("starts_at", "ends_at")] == [
        SOON,
        SOON + timedelta(days=2),
    ]
    async with clean_db.sessions() as session:
        campaign = await session.scalar(select(Campaign))
    assert campaign is not None and campaign.ends_at == SOON + timedelta(days=2)
    assert campaign.audience == {"groups": ["comms", "sales"]}


async def test_without_a_window_or_audience_a_campaign_is_now_for_everyone(
    api: httpx.AsyncClient, org: Org
) -> None:
    named = {**GOOD, "audience": {"colleagues": ["cms-1", "cms-2"]}}
    plain = (await api.post("/v1/campaigns", json=GOOD, headers=_auth(org))).json()
    assert plain["window"] == "now" and plain["audience"] == "everyone"
    picked = (await api.post("/v1/campaigns", json=named, headers=_auth(org))).json()
    assert picked["audience"] == {"colleagues": ["cms-1", "cms-2"]}
