"""The reach API's queries: one row per published share with its figures (latest counts,
followers when it posted, tracked link and clicks), summed per network, day or colleague.

Every query filters on the organisation first; a share's figures come through its own
indexes (latest_metrics by share, metric_samples by (share_id, taken_at), share_clicks by
(share_id, day)), so a report costs the shares it covers, not the history.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import Network
from chorus.gateway.reach_schemas import Coverage, Reach

__all__ = [
    "Ranking",
    "campaign_reach",
    "clicks_by_day",
    "forecast_inputs",
    "leaderboard_rows",
    "reach_by_day",
    "reach_of",
]

_PER_SHARE = """
    SELECT s.id, s.network, s.published_at, a.ambassador_id,
           lm.share_id IS NOT NULL AS measured, lm.reshares, lm.likes, lm.replies,
           lm.impressions, f.followers, l.share_id IS NOT NULL AS tracked, k.clicks
    FROM shares s
    JOIN accounts a ON a.id = s.account_id
    LEFT JOIN latest_metrics lm ON lm.share_id = s.id
    LEFT JOIN share_links l ON l.share_id = s.id
    -- Potential reach is the audience when the post went out: the first sample that saw it.
    LEFT JOIN LATERAL (
        SELECT ms.followers FROM metric_samples ms
        WHERE ms.share_id = s.id AND ms.followers IS NOT NULL
        ORDER BY ms.taken_at LIMIT 1
    ) f ON true
    LEFT JOIN LATERAL (
        SELECT sum(c.clicks) AS clicks FROM share_clicks c WHERE c.share_id = s.id
    ) k ON true
    WHERE s.org_id = :org AND s.status = 'published' AND {where}
"""
# SUM over only NULLs is NULL: a figure no measured share reports stays "not reported".
_SUMS = """
    count(*) AS published, count(*) FILTER (WHERE measured) AS measured,
    count(followers) AS followers_known, count(*) FILTER (WHERE tracked) AS tracked,
    sum(followers) AS potential_reach, sum(reshares) AS reshares, sum(likes) AS likes,
    sum(replies) AS replies, sum(impressions) AS impressions,
    sum(COALESCE(clicks, 0)) FILTER (WHERE tracked) AS clicks
"""

_CAMPAIGN = text(
    f"""
    SELECT network, {_SUMS}
    FROM ({_PER_SHARE.format(where="s.campaign_id = :campaign")}) x
    GROUP BY ROLLUP (network)
    """
)
_BY_DAY = text(
    f"""
    SELECT (published_at AT TIME ZONE 'UTC')::date AS day, network, {_SUMS}
    FROM ({_PER_SHARE.format(where="s.published_at >= :start AND s.published_at < :end")}) x
    GROUP BY GROUPING SETS ((1, network), ())
    """
)
_CLICKS_BY_DAY = text(
    """
    SELECT c.day, s.network, sum(c.clicks) AS clicks
    FROM share_clicks c JOIN shares s ON s.id = c.share_id
    WHERE c.org_id = :org AND c.day >= :first AND c.day <= :last
    GROUP BY c.day, s.network
    """
)
_FORECAST = text(
    """
    WITH followers AS (
        SELECT DISTINCT ON (s.account_id) s.account_id, lm.followers
        FROM latest_metrics lm JOIN shares s ON s.id = lm.share_id
        WHERE lm.org_id = :org AND lm.followers IS NOT NULL
        ORDER BY s.account_id, lm.taken_at DESC
    ), colleagues AS (
        SELECT m.id, sum(f.followers) AS followers
        FROM ambassadors m
        JOIN accounts a ON a.ambassador_id = m.id AND a.status = 'connected'
        LEFT JOIN followers f ON f.account_id = a.id
        WHERE m.org_id = :org AND m.status = 'active'
        GROUP BY m.id
    )
    SELECT (SELECT count(*) FROM campaigns
            WHERE org_id = :org AND created_at >= :start AND created_at < :end) AS campaigns,
           count(*) AS active, count(followers) AS known, avg(followers) AS average
    FROM colleagues
    """
)


class Ranking(StrEnum):
    CLICKS = "clicks"
    ENGAGEMENT = "engagement"
    IMPRESSIONS = "impressions"
    POTENTIAL_REACH = "potential_reach"


# Whitelisted SQL per ranking; a figure not reported ranks as 0.
_SCORES = {
    Ranking.CLICKS: "COALESCE(clicks, 0)",
    Ranking.ENGAGEMENT: "COALESCE(reshares, 0) + COALESCE(likes, 0) + COALESCE(replies, 0)",
    Ranking.IMPRESSIONS: "COALESCE(impressions, 0)",
    Ranking.POTENTIAL_REACH: "COALESCE(potential_reach, 0)",
}
_LEADERBOARD = """
    WITH per_colleague AS (
        SELECT ambassador_id, {sums}
        FROM ({per_share}) x
        GROUP BY ambassador_id
    ), ranked AS (
        SELECT p.*, m.external_id, m.display_name, CAST({score} AS bigint) AS score
        FROM per_colleague p JOIN ambassadors m ON m.id = p.ambassador_id
    )
    SELECT * FROM ranked
    WHERE CAST(:after_score AS bigint) IS NULL
       OR (score, ambassador_id) < (CAST(:after_score AS bigint), CAST(:after_id AS uuid))
    ORDER BY score DESC, ambassador_id DESC
    LIMIT :limit
"""
_LEADERBOARDS = {
    ranking: text(
        _LEADERBOARD.format(
            sums=_SUMS,
            per_share=_PER_SHARE.format(where="s.published_at >= :start AND s.published_at < :end"),
            score=score,
        )
    )
    for ranking, score in _SCORES.items()
}


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))


def reach_of(row: Any) -> Reach:
    return Reach(
        coverage=Coverage(
            published=row.published,
            measured=row.measured,
            followers_known=row.followers_known,
            tracked=row.tracked,
        ),
        potential_reach=_int(row.potential_reach),
        reshares=_int(row.reshares),
        likes=_int(row.likes),
        replies=_int(row.replies),
        impressions=_int(row.impressions),
        clicks=_int(row.clicks),
    )


async def campaign_reach(
    *, session: AsyncSession, org_id: uuid.UUID, campaign_id: uuid.UUID
) -> tuple[Reach | None, dict[Network, Reach]]:
    """(total, per network) of the campaign's published shares; total None if none."""
    rows = await session.execute(_CAMPAIGN, {"org": org_id, "campaign": campaign_id})
    total, networks = None, {}
    for row in rows:
        if row.network is None:
            total = reach_of(row)
        else:
            networks[Network(row.network)] = reach_of(row)
    return total, networks


async def reach_by_day(
    *, session: AsyncSession, org_id: uuid.UUID, start: datetime, end: datetime
) -> list[Any]:
    """Rows per (day, network) of shares published in [start, end), and one total row (its
    day and network None)."""
    return list(await session.execute(_BY_DAY, {"org": org_id, "start": start, "end": end}))


async def clicks_by_day(
    *, session: AsyncSession, org_id: uuid.UUID, first: date, last: date
) -> dict[tuple[date, Network], int]:
    rows = await session.execute(_CLICKS_BY_DAY, {"org": org_id, "first": first, "last": last})
    found: dict[tuple[date, Network], int] = defaultdict(int)
    for day, network, clicks in rows:
        found[(day, Network(network))] += int(clicks)
    return found


async def forecast_inputs(
    *, session: AsyncSession, org_id: uuid.UUID, start: datetime, end: datetime
) -> Any:
    """(campaigns created in the range, active colleagues, those with followers known, their
    average followers)."""
    return (await session.execute(_FORECAST, {"org": org_id, "start": start, "end": end})).one()


async def leaderboard_rows(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ranking: Ranking,
    start: datetime,
    end: datetime,
    after: tuple[int, uuid.UUID] | None,
    limit: int,
) -> list[Any]:
    params = {
        "org": org_id,
        "start": start,
        "end": end,
        "after_score": after[0] if after else None,
        "after_id": after[1] if after else None,
        "limit": limit,
    }
    return list(await session.execute(_LEADERBOARDS[ranking], params))
