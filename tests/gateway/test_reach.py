"""The reach API against a seeded organisation with known read-backs and clicks, on the real
database: sums per network and in total, potential reach from the followers when posted, null
where a network reports nothing, coverage beside each total, days and the forecast, the
leaderboard's pages, and another organisation seeing none of it."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.gateway.paging import encode_cursor
from tests.factories import Org, make_org, share_rows, stage_campaign

pytestmark = pytest.mark.integration

DAY1 = datetime.fromisoformat("2026-11-02T10:00:00+00:00")
DAY2 = datetime.fromisoformat("2026-11-03T10:00:00+00:00")


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _execute(db: Database, sql: str, **params: Any) -> None:
    async with db.sessions.begin() as session:
        await session.execute(text(sql), params)


async def _publish(db: Database, share: Any, at: datetime) -> None:
    await _execute(
        db,
        "UPDATE shares SET status = 'published', published_at = :at, remote_id = :r WHERE id = :id",
        at=at,
        r=uuid.uuid4().hex,
        id=share.id,
    )


async def _sample(db: Database, share: Any, at: datetime, *, latest: bool, **counts: Any) -> None:
    values = {
        "reshares": None,
        "likes": None,
        "replies": None,
        "impressions": None,
        "followers": None,
        **counts,
    }
    columns = "org_id, share_id, campaign_id, network, taken_at, " + ", ".join(values)
    params = ", ".join(f":{k}" for k in values)
    row = {
        "org_id": share.org_id,
        "share_id": share.id,
        "campaign_id": share.campaign_id,
        "network": share.network,
        "taken_at": at,
        **values,
    }
    await _execute(
        db,
        f"INSERT INTO metric_samples ({columns}) VALUES (:org_id, :share_id, :campaign_id, "
        f":network, :taken_at, {params})",
        **row,
    )
    if latest:
        await _execute(
            db,
            f"INSERT INTO latest_metrics ({columns}) VALUES (:org_id, :share_id, :campaign_id, "
            f":network, :taken_at, {params})",
            **row,
        )


async def _link(db: Database, share: Any, clicks: dict[str, int]) -> None:
    await _execute(
        db,
        "INSERT INTO share_links (code, share_id, org_id) VALUES (:c, :s, :o)",
        c=uuid.uuid4().hex[:12],
        s=share.id,
        o=share.org_id,
    )
    for day, n in clicks.items():
        await _execute(
            db,
            "INSERT INTO share_clicks (share_id, day, org_id, clicks) VALUES (:s, :d, :o, :n)",
            s=share.id,
            d=date.fromisoformat(day),
            o=share.org_id,
            n=n,
        )


@pytest.fixture
async def seeded(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> dict[str, Any]:
    """Mastodon: three shares published on day 1, two measured, two tracked. X: one share
    published on day 2, measured with impressions, untracked."""
    mastodon = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=3)
    x = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=1, network="x")
    s1, s2, s3 = sorted(await share_rows(clean_db, mastodon), key=lambda s: str(s.id))
    [sx] = await share_rows(clean_db, x)
    for share in (s1, s2, s3):
        await _publish(clean_db, share, DAY1)
    await _publish(clean_db, sx, DAY2)
    # Followers when posted (100) differ from the latest (150): potential reach takes 100.
    await _sample(clean_db, s1, DAY1, latest=False, followers=100)
    await _sample(clean_db, s1, DAY2, latest=True, reshares=3, likes=4, replies=1, followers=150)
    await _sample(clean_db, s2, DAY2, latest=True, reshares=1, likes=2, replies=0, followers=200)
    await _sample(
        clean_db, sx, DAY2, latest=True, reshares=0, likes=1, replies=0, impressions=50,
        followers=40,
    )  # fmt: skip
    await _link(clean_db, s1, {"2026-11-02": 5, "2026-11-03": 2})
    await _link(clean_db, s2, {})
    return {"mastodon": mastodon, "x": x, "s1": s1, "sx": sx}


MASTODON = {
    "coverage": {"published": 3, "measured": 2, "followers_known": 2, "tracked": 2},
    "potential_reach": 300,
    "reshares": 4,
    "likes": 6,
    "replies": 1,
    "impressions": None,
    "clicks": 7,
}
X = {
    "coverage": {"published": 1, "measured": 1, "followers_known": 1, "tracked": 0},
    "potential_reach": 40,
    "reshares": 0,
    "likes": 1,
    "replies": 0,
    "impressions": 50,
    "clicks": None,
}


async def test_a_campaigns_reach_per_network_with_coverage_and_nulls(
    api: httpx.AsyncClient, clean_db: Database, org: Org, seeded: dict[str, Any]
) -> None:
    response = await api.get(f"/v1/campaigns/{seeded['mastodon']}/reach", headers=_auth(org))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["networks"] == {"mastodon": MASTODON}
    assert body["total"] == MASTODON
    x = (await api.get(f"/v1/campaigns/{seeded['x']}/reach", headers=_auth(org))).json()
    assert x["networks"] == {"x": X}

    other = await make_org(clean_db, name="other")
    hidden = await api.get(f"/v1/campaigns/{seeded['mastodon']}/reach", headers=_auth(other))
    assert hidden.status_code == 404
    assert hidden.headers["content-type"] == "application/problem+json"
    missing = await api.get(f"/v1/campaigns/{uuid.uuid4()}/reach", headers=_auth(org))
    assert missing.status_code == 404


async def test_reach_per_day_its_total_and_the_forecast(
    api: httpx.AsyncClient, clean_db: Database, org: Org, seeded: dict[str, Any]
) -> None:
    params = {"from": "2026-11-01", "to": "2026-11-07", "posts_per_week": "3"}
    response = await api.get("/v1/reach", params=params, headers=_auth(org))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-11-01", "2026-11-07")
    days = {(d["day"], d["network"]): d["reach"] for d in body["days"]}
    assert days[("2026-11-02", "mastodon")] == {**MASTODON, "clicks": 5}
    # Clicks on the day they were made, though nothing was published that day on Mastodon.
    assert days[("2026-11-03", "mastodon")]["clicks"] == 2
    assert days[("2026-11-03", "mastodon")]["coverage"]["published"] == 0
    assert days[("2026-11-03", "x")] == X
    assert len(days) == 3
    assert body["total"] == {
        "coverage": {"published": 4, "measured": 3, "followers_known": 3, "tracked": 2},
        "potential_reach": 340,
        "reshares": 4,
        "likes": 7,
        "replies": 1,
        "impressions": 50,
        "clicks": 7,
    }
    # 3 posts a week x 1 week x 4 active colleagues x (150 + 200 + 40) / 3 followers.
    assert body["forecast"] == {
        "posts_per_week": 3.0,
        "weeks": 1.0,
        "active_colleagues": 4,
        "colleagues_with_followers": 3,
        "average_followers": 130.0,
        "potential_reach": 1560,
    }

    other = await make_org(clean_db, name="other")
    theirs = (await api.get("/v1/reach", params=params, headers=_auth(other))).json()
    assert theirs["days"] == [] and theirs["total"]["coverage"]["published"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-07", "to": "2026-11-01"},
        {"from": "2026-01-01", "to": "2026-12-31"},
        {"from": "2026-11-01"},
        {"from": "yesterday", "to": "2026-11-01"},
        {"from": "0", "to": "2026-11-01"},
    ],
)
async def test_a_bad_range_is_refused(
    api: httpx.AsyncClient, org: Org, params: dict[str, str]
) -> None:
    response = await api.get("/v1/reach", params=params, headers=_auth(org))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_leaderboard_ranks_and_pages_without_repeats(
    api: httpx.AsyncClient, clean_db: Database, org: Org, seeded: dict[str, Any]
) -> None:
    async with clean_db.sessions() as session:
        names: dict[uuid.UUID, str] = dict(
            (
                await session.execute(
                    text(
                        "SELECT s.id, m.external_id FROM shares s JOIN accounts a "
                        "ON a.id = s.account_id JOIN ambassadors m ON m.id = a.ambassador_id"
                    )
                )
            ).all()
        )
    base = {"from": "2026-11-01", "to": "2026-11-07", "limit": "3"}
    first = (await api.get("/v1/leaderboard", params=base, headers=_auth(org))).json()
    assert first["items"][0]["external_id"] == names[seeded["s1"].id]
    assert first["items"][0]["reach"]["clicks"] == 7
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = (
        await api.get(
            "/v1/leaderboard",
            params={**base, "cursor": first["next_cursor"]},
            headers=_auth(org),
        )
    ).json()
    assert second["next_cursor"] is None
    seen = [i["external_id"] for i in first["items"] + second["items"]]
    assert sorted(seen) == sorted(names.values())

    by_impressions = (
        await api.get("/v1/leaderboard", params={**base, "by": "impressions"}, headers=_auth(org))
    ).json()
    assert by_impressions["items"][0]["external_id"] == names[seeded["sx"].id]
    assert by_impressions["items"][0]["reach"]["impressions"] == 50

    assert (
        await api.get("/v1/leaderboard", params={"to": "0"}, headers=_auth(org))
    ).status_code == 422
    for cursor in ("nonsense", encode_cursor([str(2**70), str(uuid.uuid4())])):
        bad = await api.get("/v1/leaderboard", params={"cursor": cursor}, headers=_auth(org))
        assert bad.status_code == 422, cursor
    other = await make_org(clean_db, name="other")
    theirs = await api.get("/v1/leaderboard", params=base, headers=_auth(other))
    assert theirs.status_code == 200 and theirs.json()["items"] == []


async def test_ranges_at_the_ends_of_the_calendar_are_refused_not_crashed(
    api: httpx.AsyncClient, org: Org
) -> None:
    for params in ({"from": "9999-12-30", "to": "9999-12-31"}, {"to": "0001-01-01"}):
        reach = await api.get("/v1/reach", params=params, headers=_auth(org))
        board = await api.get("/v1/leaderboard", params=params, headers=_auth(org))
        assert reach.status_code in (200, 422) and board.status_code in (200, 422)
        assert reach.status_code != 500 and board.status_code != 500
