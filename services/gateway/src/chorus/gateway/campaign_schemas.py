"""The bodies of the campaign lifecycle routes: lists (paged), a share as the CMS sees it, and
what a retry did."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from chorus.common.kinds import CampaignStatus, Network, ShareStatus
from chorus.gateway.schemas import CAMPAIGN_EXAMPLE, CampaignOut, ShareCounts

__all__ = [
    "CampaignPage",
    "CampaignSummary",
    "Colleague",
    "IsoTime",
    "RetryOut",
    "ShareOut",
    "SharePage",
]


def _iso(value: object) -> object:
    # Pydantic would also read "0.5" as seconds since 1970; the document promises ISO 8601.
    if isinstance(value, str) and not re.match(r"\d{4}-\d\d-\d\d[T ]", value):
        raise ValueError("an ISO 8601 date and time with its offset, e.g. 2026-12-01T09:30:00Z")
    return value


IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso)]

_SUMMARY: dict[str, Any] = {
    k: v for k, v in CAMPAIGN_EXAMPLE.items() if k not in ("message", "reach")
}


class CampaignSummary(BaseModel):
    """A campaign as listed: its shares counted, without the reach read-backs."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SUMMARY]})

    id: uuid.UUID
    title: str
    url: str
    networks: list[Network]
    status: CampaignStatus
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    shares: ShareCounts


class CampaignPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_SUMMARY], "next_cursor": "WyIyMDI2LTEy"}]}
    )

    items: list[CampaignSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Colleague(BaseModel):
    external_id: str = Field(description="The CMS's own id for the colleague.")
    name: str


_SHARE: dict[str, Any] = {
    "id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
    "colleague": {"external_id": "emp-1042", "name": "Alice Martin"},
    "network": "mastodon",
    "handle": "alice",
    "status": "published",
    "planned_at": "2026-12-01T10:00:00Z",
    "published_at": "2026-12-01T10:00:02Z",
    "post_url": "https://mastodon.example/@alice/113",
    "share_link": None,
    "reason": None,
}


class ShareOut(BaseModel):
    """One share: one colleague's account, one network."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SHARE]})

    id: uuid.UUID
    colleague: Colleague
    network: Network
    handle: str = Field(description="The account it goes out on.")
    status: ShareStatus
    planned_at: datetime = Field(description="When it is (or was last) due to go out.")
    published_at: datetime | None
    post_url: str | None = Field(description="The post on the network, once published.")
    share_link: str | None = Field(
        description="For `manual` shares: the link the colleague opens to share it by hand."
    )
    reason: str | None = Field(
        description="Why it failed, was skipped or cancelled, or why it is manual."
    )


class SharePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_SHARE], "next_cursor": None}]}
    )

    items: list[ShareOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class RetryOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "retried": 12,
                    "skipped_needs_reauth": 2,
                    "skipped_disconnected": 1,
                    "campaign": CAMPAIGN_EXAMPLE,
                }
            ]
        }
    )

    retried: int = Field(description="Failed shares planned again, to go out now.")
    skipped_needs_reauth: int = Field(
        description="Failed shares left failed: the colleague must connect the account again "
        "(a retry after that takes them)."
    )
    skipped_disconnected: int = Field(
        description="Failed shares left failed: the account was disconnected or the colleague left."
    )
    campaign: CampaignOut
