"""The reach API's bodies. Every figure is a sum over published shares; null means no measured
share's network reports it (Mastodon has no impressions), which is not 0. Each total has its
coverage beside it: how many shares were measured out of how many were published."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chorus.common.kinds import Network

__all__ = [
    "CampaignReach",
    "Coverage",
    "Forecast",
    "LeaderboardEntry",
    "LeaderboardPage",
    "Reach",
    "ReachDay",
    "ReachOverTime",
]


class Coverage(BaseModel):
    published: int = Field(description="Shares published.")
    measured: int = Field(description="Of those, shares read back at least once.")
    followers_known: int = Field(description="Of those, shares whose followers are known.")
    tracked: int = Field(description="Of those, shares that carry a tracked link.")


class Reach(BaseModel):
    coverage: Coverage
    potential_reach: int | None = Field(
        description="Followers of the posting accounts when they posted (the first read-back "
        "that saw them). Potential, not measured: never mixed with impressions."
    )
    reshares: int | None
    likes: int | None
    replies: int | None
    impressions: int | None = Field(description="Where the network reports them.")
    clicks: int | None = Field(
        description="People's clicks on the shares' tracked links (bots not counted); null "
        "when no share carries one."
    )


_COVERAGE = {"published": 4, "measured": 3, "followers_known": 3, "tracked": 4}
_REACH: dict[str, Any] = {
    "coverage": _COVERAGE,
    "potential_reach": 2840,
    "reshares": 7,
    "likes": 31,
    "replies": 2,
    "impressions": None,
    "clicks": 18,
}


class CampaignReach(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "campaign_id": "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
                    "total": _REACH,
                    "networks": {"mastodon": _REACH},
                }
            ]
        }
    )

    campaign_id: uuid.UUID
    total: Reach = Field(description="Over every network; a figure no network reports is null.")
    networks: dict[Network, Reach] = Field(
        description="Per network with a published share; the campaign's other networks absent."
    )


class ReachDay(BaseModel):
    day: date
    network: Network
    reach: Reach = Field(
        description="Shares published that day (UTC) and their latest counts; clicks made "
        "that day on any of the organisation's shares on the network."
    )


class Forecast(BaseModel):
    """The seed formula: posts per week x active colleagues x their average followers."""

    posts_per_week: float = Field(
        description="As asked, or the organisation's campaigns per week over the range."
    )
    weeks: float
    active_colleagues: int = Field(description="Active colleagues with a connected account.")
    colleagues_with_followers: int = Field(
        description="Of those, colleagues whose followers were read back at least once."
    )
    average_followers: float | None = Field(
        description="Per colleague, over every connected account (latest read-back)."
    )
    potential_reach: int | None = Field(
        description="posts_per_week x weeks x active_colleagues x average_followers."
    )


class ReachOverTime(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from": "2026-12-01",
                    "to": "2026-12-07",
                    "days": [{"day": "2026-12-01", "network": "mastodon", "reach": _REACH}],
                    "total": _REACH,
                    "forecast": {
                        "posts_per_week": 3.0,
                        "weeks": 1.0,
                        "active_colleagues": 50,
                        "colleagues_with_followers": 48,
                        "average_followers": 1000.0,
                        "potential_reach": 150000,
                    },
                }
            ]
        },
        populate_by_name=True,
    )

    from_: date = Field(alias="from")
    to: date
    days: list[ReachDay] = Field(description="Per day and network, days with nothing left out.")
    total: Reach = Field(description="Over the whole range and every network.")
    forecast: Forecast = Field(description="What the seed formula expects, beside `total`.")


class LeaderboardEntry(BaseModel):
    external_id: str = Field(description="The CMS's own id for the colleague.")
    name: str
    reach: Reach


class LeaderboardPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [{"external_id": "emp-1042", "name": "Alice Martin", "reach": _REACH}],
                    "next_cursor": "WyIxOCIsIjNmMWMiXQ",
                }
            ]
        }
    )

    items: list[LeaderboardEntry] = Field(description="Best first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
