"""The reach API: what a campaign bought, the organisation's reach per day with the seed
formula's forecast, and the colleagues' leaderboard."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BeforeValidator

from chorus.gateway.auth import OrgId
from chorus.gateway.deps import SessionsDep
from chorus.gateway.paging import MAX_LIMIT
from chorus.gateway.problems import problems
from chorus.gateway.reach import campaign_reach_report, leaderboard, reach_over_time
from chorus.gateway.reach_queries import Ranking
from chorus.gateway.reach_schemas import CampaignReach, LeaderboardPage, ReachOverTime

router = APIRouter(prefix="/v1", tags=["reach"])

# Per day and network, a range's rows stay a few hundred.
LONGEST_DAYS = 92
LONGEST_LEADERBOARD_DAYS = 366


def _iso_date(value: object) -> object:
    # Pydantic would also read "0" as a day counted from 1970; the document promises ISO 8601.
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value)):
        raise ValueError("a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
First = Annotated[IsoDate, Query(alias="from", description="First day (UTC), YYYY-MM-DD.")]
Last = Annotated[IsoDate, Query(description="Last day (UTC), YYYY-MM-DD, included.")]


@router.get(
    "/campaigns/{campaign_id}/reach",
    response_model=CampaignReach,
    responses=problems(404, 422),
    operation_id="get_campaign_reach",
)
async def get_campaign_reach(
    campaign_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep
) -> CampaignReach:
    """What the campaign bought, per network and in total: potential reach (followers when
    posted), reshares, likes, replies, impressions where reported (null where the network
    does not report them, never 0) and clicks, with the coverage beside each."""
    async with sessions() as session:
        return await campaign_reach_report(session=session, org_id=org_id, campaign_id=campaign_id)


@router.get(
    "/reach",
    response_model=ReachOverTime,
    response_model_by_alias=True,
    responses=problems(422),
    operation_id="get_reach",
)
async def get_reach(
    org_id: OrgId,
    sessions: SessionsDep,
    first: First,
    to: Last,
    posts_per_week: Annotated[
        float | None,
        Query(
            gt=0,
            le=1000,
            allow_inf_nan=False,
            description="For the forecast; by default the organisation's campaigns per week "
            "over the range.",
        ),
    ] = None,
) -> ReachOverTime:
    """The organisation's reach per day and network over at most 92 days, its total, and the
    seed formula's forecast (posts per week x active colleagues x their average followers)
    beside it."""
    async with sessions() as session:
        return await reach_over_time(
            session=session,
            org_id=org_id,
            first=first,
            last=to,
            posts_per_week=posts_per_week,
            longest=LONGEST_DAYS,
        )


def _today() -> date:
    return datetime.now(UTC).date()


@router.get(
    "/leaderboard",
    response_model=LeaderboardPage,
    responses=problems(422),
    operation_id="get_leaderboard",
)
async def get_leaderboard(
    org_id: OrgId,
    sessions: SessionsDep,
    first: Annotated[
        IsoDate | None,
        Query(alias="from", description="First day (UTC); by default 29 days before `to`."),
    ] = None,
    to: Annotated[IsoDate | None, Query(description="Last day (UTC), included; today.")] = None,
    by: Annotated[
        Ranking,
        Query(
            description="Ranked by clicks, engagement (reshares + likes + replies), "
            "impressions or potential reach; a figure not reported ranks as 0."
        ),
    ] = Ranking.CLICKS,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    cursor: Annotated[
        str | None,
        Query(max_length=500, description="`next_cursor` of the previous page; none first."),
    ] = None,
) -> LeaderboardPage:
    """The organisation's colleagues ranked by what their shares published in the range
    measured, a page at a time: follow `next_cursor` until it is null, with the same
    parameters."""
    last = to or _today()
    if first is None:
        first = last - timedelta(days=29) if last > date.min + timedelta(days=29) else date.min
    async with sessions() as session:
        return await leaderboard(
            session=session,
            org_id=org_id,
            ranking=by,
            first=first,
            last=last,
            limit=limit,
            cursor=cursor,
            longest=LONGEST_LEADERBOARD_DAYS,
        )
