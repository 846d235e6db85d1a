"""Staging spreads a campaign over its window: audience, quiet hours in the colleague's own time
zone (daylight saving included), the gap, the daily cap across campaigns, review mode, skipped
shares with their reason. Real PostgreSQL; the planner's own rules are tested in
tests/common/test_spreading.py."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import delete, select, update

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.messages import CampaignCreated
from chorus.common.models import Account, Ambassador, Campaign, Share
from chorus.common.shares import StagingRules, due_shares
from chorus.scheduler.handlers import SchedulerHandlers
from tests.factories import (
    Org,
    make_accounts,
    make_campaign,
    make_org,
    share_rows,
    sim_accounts,
)

pytestmark = pytest.mark.integration

QUIET = (time(22), time(7))


async def _colleagues(
    db: Database,
    org: Org,
    keyring: Keyring,
    sim: httpx.AsyncClient,
    count: int,
    *,
    mode: str = "auto",
    **colleague: Any,
) -> list[uuid.UUID]:
    # A handle of its own per call: the simulator numbers each call's accounts from 0.
    response = await sim.post(
        "/_sim/accounts",
        json={"count": count, "username": f"u{uuid.uuid4().hex[:8]}", "network": "mastodon"},
    )
    response.raise_for_status()
    accounts = response.json()
    return await make_accounts(
        db, org=org, keyring=keyring, sim=accounts, mode=mode, colleague=colleague
    )


async def _stage(
    db: Database, org: Org, campaign_id: uuid.UUID, rules: StagingRules | None = None
) -> None:
    handlers = SchedulerHandlers(db=db, rules=rules or StagingRules())
    await handlers.campaign_created(CampaignCreated(campaign_id=campaign_id, org_id=org.id))


def _quiet(at: datetime, zone: str) -> bool:
    local = at.astimezone(ZoneInfo(zone)).time()
    return local >= QUIET[0] or local < QUIET[1]


async def test_the_audience_is_the_groups_or_the_colleagues_named(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    comms = await _colleagues(clean_db, org, keyring, sim_http, 3, groups=["comms"])
    sales = await _colleagues(clean_db, org, keyring, sim_http, 2, groups=["sales", "paris"])
    await _colleagues(clean_db, org, keyring, sim_http, 4, groups=["it"])
    await _colleagues(clean_db, org, keyring, sim_http, 2, groups=["comms"], status="left")
    by_groups = await make_campaign(clean_db, org=org, audience={"groups": ["comms", "paris"]})
    await _stage(clean_db, org, by_groups)
    assert sorted(s.account_id for s in await share_rows(clean_db, by_groups)) == sorted(
        comms + sales
    )
    named = await make_campaign(
        clean_db, org=org, audience={"colleagues": await _external_ids(clean_db, sales[:1])}
    )
    await _stage(clean_db, org, named)
    assert [s.account_id for s in await share_rows(clean_db, named)] == sales[:1]


async def _external_ids(db: Database, account_ids: list[uuid.UUID]) -> list[str]:
    async with db.sessions() as session:
        return list(
            await session.scalars(
                select(Ambassador.external_id)
                .join(Account, Account.ambassador_id == Ambassador.id)
                .where(Account.id.in_(account_ids))
            )
        )


async def test_quiet_hours_hold_in_two_time_zones_across_a_daylight_saving_change(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await _colleagues(clean_db, org, keyring, sim_http, 20, timezone="Europe/Berlin")
    await _colleagues(clean_db, org, keyring, sim_http, 20, timezone="America/New_York")
    # Europe moves its clocks on Sunday 28 March 2027, New York two weeks earlier.
    window = (datetime(2027, 3, 27, 12, tzinfo=UTC), datetime(2027, 3, 29, 12, tzinfo=UTC))
    campaign_id = await make_campaign(clean_db, org=org, window=window)
    await _stage(clean_db, org, campaign_id)
    async with clean_db.sessions() as session:
        rows = (
            await session.execute(
                select(Share.planned_at, Share.status, _zone_of_share()).where(
                    Share.campaign_id == campaign_id
                )
            )
        ).all()
    assert len(rows) == 40 and {r.status for r in rows} == {"planned"}
    assert all(window[0] <= r.planned_at < window[1] for r in rows)
    assert not [r for r in rows if _quiet(r.planned_at, r.timezone)]
    # Spread, not bunched: the shares fall on more than one local day in Berlin.
    berlin = {r.planned_at.astimezone(ZoneInfo("Europe/Berlin")).date() for r in rows}
    assert len(berlin) >= 2


def _zone_of_share() -> Any:
    return (
        select(Ambassador.timezone)
        .join(Account, Account.ambassador_id == Ambassador.id)
        .where(Account.id == Share.account_id)
        .scalar_subquery()
        .label("timezone")
    )


async def test_shares_of_a_campaign_keep_the_minimum_gap_and_the_rest_are_skipped_with_why(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await _colleagues(clean_db, org, keyring, sim_http, 12, quiet_start=time(0), quiet_end=time(0))
    start = datetime(2027, 1, 11, 10, tzinfo=UTC)
    campaign_id = await make_campaign(
        clean_db, org=org, window=(start, start + timedelta(minutes=3))
    )
    await _stage(clean_db, org, campaign_id, StagingRules(min_gap=timedelta(seconds=30)))
    shares = await share_rows(clean_db, campaign_id)
    planned = sorted(s.planned_at for s in shares if s.status == "planned")
    skipped = [s for s in shares if s.status == "skipped"]
    assert len(shares) == 12 and 3 <= len(planned) <= 6 and len(skipped) == 12 - len(planned)
    assert all(b - a >= timedelta(seconds=30) for a, b in itertools.pairwise(planned))
    assert all(s.reason and "minimum gap" in s.reason for s in skipped)


async def test_a_window_all_in_quiet_hours_skips_every_share_and_completes_the_campaign(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await _colleagues(clean_db, org, keyring, sim_http, 3, timezone="UTC")
    window = (datetime(2027, 1, 11, 23, tzinfo=UTC), datetime(2027, 1, 12, 5, tzinfo=UTC))
    campaign_id = await make_campaign(clean_db, org=org, window=window)
    await _stage(clean_db, org, campaign_id)
    shares = await share_rows(clean_db, campaign_id)
    assert [s.status for s in shares] == ["skipped"] * 3
    assert all(s.reason and "quiet hours" in s.reason for s in shares)
    async with clean_db.sessions() as session:
        status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    assert status == "completed"


async def test_the_daily_cap_holds_across_two_campaigns_staged_at_the_same_moment(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await _colleagues(clean_db, org, keyring, sim_http, 5, timezone="UTC")
    window = (datetime(2027, 1, 11, 8, tzinfo=UTC), datetime(2027, 1, 11, 20, tzinfo=UTC))
    first = await make_campaign(clean_db, org=org, window=window)
    second = await make_campaign(clean_db, org=org, window=window)
    rules = StagingRules(daily_cap=1, min_gap=timedelta(seconds=1))
    await asyncio.gather(_stage(clean_db, org, first, rules), _stage(clean_db, org, second, rules))
    shares = await share_rows(clean_db, first) + await share_rows(clean_db, second)
    assert len(shares) == 10
    planned = [s.account_id for s in shares if s.status == "planned"]
    skipped = [s for s in shares if s.status == "skipped"]
    assert len(planned) == len(set(planned)) == 5
    assert len(skipped) == 5 and all(s.reason and "daily cap" in s.reason for s in skipped)


async def test_an_app_budget_counts_what_earlier_campaigns_planned_on_that_network(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """X's per-app budget is read back from the shares already staged in the window (the
    staging's one read of what an app has used): the second campaign gets what is left."""
    accounts = await sim_accounts(sim_http, count=6, network="x")
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=accounts, network="x", colleague={"timezone": "UTC"}
    )
    window = (datetime(2027, 1, 11, 8, tzinfo=UTC), datetime(2027, 1, 11, 20, tzinfo=UTC))
    rules = StagingRules(min_gap=timedelta(seconds=1), app_daily_budgets={Network.X: 8})
    first = await make_campaign(clean_db, org=org, networks=("x",), window=window)
    await _stage(clean_db, org, first, rules)
    second = await make_campaign(clean_db, org=org, networks=("x",), window=window)
    await _stage(clean_db, org, second, rules)
    firsts, seconds = await share_rows(clean_db, first), await share_rows(clean_db, second)
    assert [s.status for s in firsts] == ["planned"] * 6
    assert sorted(s.status for s in seconds) == ["planned"] * 2 + ["skipped"] * 4
    assert all(s.reason and "app budget on x" in s.reason for s in seconds if s.status == "skipped")


async def test_a_large_audience_planned_in_batches_gets_the_plan_of_one_batch(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """Fetched in batches of 4 (each fetched while the one before is planned and written),
    the campaign gets the very plan it gets in one batch."""
    await _colleagues(clean_db, org, keyring, sim_http, 12, timezone="Europe/Paris")
    await _colleagues(clean_db, org, keyring, sim_http, 12, timezone="Asia/Tokyo", mode="review")
    window = (datetime(2027, 1, 11, 8, tzinfo=UTC), datetime(2027, 1, 11, 9, tzinfo=UTC))
    campaign_id = await make_campaign(clean_db, org=org, window=window)
    plans = []
    for batch in (4, 10_000):
        await _stage(
            clean_db, org, campaign_id, StagingRules(min_gap=timedelta(minutes=4), batch=batch)
        )
        plans.append(
            {
                s.account_id: (s.status, s.planned_at, s.reason)
                for s in await share_rows(clean_db, campaign_id)
            }
        )
        async with clean_db.sessions.begin() as session:
            await session.execute(delete(Share).where(Share.campaign_id == campaign_id))
            await session.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(status="accepted")
            )
    in_batches, at_once = plans
    assert len(in_batches) == 24 and in_batches == at_once
    statuses = Counter(status for status, _, _ in in_batches.values())
    assert statuses.keys() == {"planned", "awaiting_review", "skipped"}


async def test_review_mode_shares_await_review_and_are_never_released(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    review = await _colleagues(clean_db, org, keyring, sim_http, 2, mode="review")
    auto = await _colleagues(clean_db, org, keyring, sim_http, 2)
    campaign_id = await make_campaign(clean_db, org=org)
    await _stage(clean_db, org, campaign_id)
    status = {s.account_id: s.status for s in await share_rows(clean_db, campaign_id)}
    assert status == {**dict.fromkeys(review, "awaiting_review"), **dict.fromkeys(auto, "planned")}
    async with clean_db.sessions.begin() as session:
        due = await due_shares(session=session, limit=100)
    assert len(due) == 2


async def test_spread_now_spreads_a_campaign_without_a_window_and_its_redelivery_adds_nothing(
    clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    org = await make_org(clean_db, name="spreads", spread_now=True)
    await _colleagues(clean_db, org, keyring, sim_http, 30, quiet_start=time(0), quiet_end=time(0))
    campaign_id = await make_campaign(clean_db, org=org)
    before = datetime.now(UTC)
    await _stage(clean_db, org, campaign_id)
    await _stage(clean_db, org, campaign_id)  # redelivered
    shares = await share_rows(clean_db, campaign_id)
    assert len(shares) == 30 and {s.status for s in shares} == {"planned"}
    times = [s.planned_at for s in shares]
    assert all(
        before - timedelta(seconds=5) <= t < before + timedelta(hours=24, seconds=5) for t in times
    )
    # Over the day, not at once: most shares are more than an hour away.
    assert sum(t > before + timedelta(hours=1) for t in times) >= 20


async def test_without_spread_now_a_campaign_without_a_window_posts_at_once(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await _colleagues(clean_db, org, keyring, sim_http, 10)
    campaign_id = await make_campaign(clean_db, org=org)
    await _stage(clean_db, org, campaign_id)
    shares = await share_rows(clean_db, campaign_id)
    assert len(shares) == 10 and len({s.planned_at for s in shares}) == 1
    assert shares[0].planned_at <= datetime.now(UTC)
