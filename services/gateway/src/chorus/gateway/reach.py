"""Reach reports: a campaign's, the organisation's over a range of days with the seed
formula's forecast beside it, and the colleagues' leaderboard (keyset pages)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import Network
from chorus.common.models import Campaign
from chorus.gateway.paging import decode_cursor, encode_cursor
from chorus.gateway.problems import Problem
from chorus.gateway.reach_queries import (
    Ranking,
    campaign_reach,
    clicks_by_day,
    forecast_inputs,
    leaderboard_rows,
    reach_by_day,
    reach_of,
)
from chorus.gateway.reach_schemas import (
    CampaignReach,
    Coverage,
    Forecast,
    LeaderboardEntry,
    LeaderboardPage,
    Reach,
    ReachDay,
    ReachOverTime,
)

__all__ = ["campaign_reach_report", "day_range", "leaderboard", "reach_over_time"]

NOTHING = Reach(
    coverage=Coverage(published=0, measured=0, followers_known=0, tracked=0),
    potential_reach=None,
    reshares=None,
    likes=None,
    replies=None,
    impressions=None,
    clicks=None,
)


def day_range(first: date, last: date, *, longest: int) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC), or a 422 problem."""
    days = (last - first).days + 1
    problem = Problem(
        422,
        f"`from` must be on or before `to`, at most {longest} days apart.",
        errors=[{"location": ["query", "to"], "message": f"1 to {longest} days"}],
    )
    if days < 1 or days > longest:
        raise problem
    start = datetime.combine(first, time(), tzinfo=UTC)
    try:
        return start, start + timedelta(days=days)
    except OverflowError:  # to = 9999-12-31
        raise problem from None


async def campaign_reach_report(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignReach:
    found = await session.scalar(
        select(Campaign.id).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    )
    if found is None:
        raise Problem(404, "No such campaign for this organisation.")
    total, networks = await campaign_reach(session=session, org_id=org_id, campaign_id=campaign_id)
    return CampaignReach(campaign_id=campaign_id, total=total or NOTHING, networks=networks)


def _with_clicks(reach: Reach, clicks: int | None) -> Reach:
    # Clicks are counted on the day they happen, whenever the share was published.
    if clicks is None:
        clicks = 0 if reach.coverage.tracked else None
    return reach.model_copy(update={"clicks": clicks})


async def reach_over_time(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    first: date,
    last: date,
    posts_per_week: float | None,
    longest: int,
) -> ReachOverTime:
    start, end = day_range(first, last, longest=longest)
    rows = await reach_by_day(session=session, org_id=org_id, start=start, end=end)
    clicks = await clicks_by_day(session=session, org_id=org_id, first=first, last=last)
    per_day: dict[tuple[date, Network], Reach] = {}
    total = NOTHING
    for row in rows:
        if row.network is None:
            total = reach_of(row)
        else:
            per_day[(row.day, Network(row.network))] = reach_of(row)
    days = [
        ReachDay(day=day, network=network, reach=_with_clicks(per_day.get(key, NOTHING), n))
        for key in sorted(per_day.keys() | clicks.keys())
        for day, network in [key]
        for n in [clicks.get(key)]
    ]
    total = _with_clicks(total, sum(clicks.values()) if clicks else None)
    forecast = _forecast(
        await forecast_inputs(session=session, org_id=org_id, start=start, end=end),
        weeks=(end - start).days / 7,
        posts_per_week=posts_per_week,
    )
    return ReachOverTime(from_=first, to=last, days=days, total=total, forecast=forecast)


def _forecast(row: Any, *, weeks: float, posts_per_week: float | None) -> Forecast:
    per_week = posts_per_week if posts_per_week is not None else row.campaigns / weeks
    average = None if row.average is None else float(row.average)
    potential = None if average is None else round(per_week * weeks * row.active * average)
    return Forecast(
        posts_per_week=round(per_week, 3),
        weeks=round(weeks, 3),
        active_colleagues=row.active,
        colleagues_with_followers=row.known,
        average_followers=None if average is None else round(average, 1),
        potential_reach=potential,
    )


def _after(key: list[str]) -> tuple[int, uuid.UUID]:
    score, ambassador_id = key
    if not 0 <= int(score) < 2**63:  # scores are bigint sums, never negative
        raise ValueError(score)
    return int(score), uuid.UUID(ambassador_id)


async def leaderboard(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ranking: Ranking,
    first: date,
    last: date,
    limit: int,
    cursor: str | None,
    longest: int,
) -> LeaderboardPage:
    start, end = day_range(first, last, longest=longest)
    after = decode_cursor(cursor, _after) if cursor is not None else None
    rows = await leaderboard_rows(
        session=session,
        org_id=org_id,
        ranking=ranking,
        start=start,
        end=end,
        after=after,
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = (
        encode_cursor([str(page[-1].score), str(page[-1].ambassador_id)]) if more else None
    )
    return LeaderboardPage(
        items=[
            LeaderboardEntry(external_id=r.external_id, name=r.display_name, reach=reach_of(r))
            for r in page
        ],
        next_cursor=next_cursor,
    )
