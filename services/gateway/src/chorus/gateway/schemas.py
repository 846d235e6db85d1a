"""The /v1 API's request and response bodies."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from chorus.common.networks import Network

__all__ = [
    "AccountIn",
    "AccountOut",
    "AmbassadorIn",
    "AmbassadorOut",
    "CampaignIn",
    "CampaignOut",
    "NetworkReach",
    "ShareCounts",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CampaignIn(_In):
    title: str = Field(min_length=1, max_length=300)
    url: AnyHttpUrl
    message: str = Field(min_length=1, max_length=10_000)
    networks: list[Network] = Field(min_length=1, max_length=5)

    @field_validator("networks")
    @classmethod
    def _unique(cls, value: list[Network]) -> list[Network]:
        if len(set(value)) != len(value):
            raise ValueError("networks must not repeat")
        return value

    @field_validator("url")
    @classmethod
    def _short_url(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(value)) > 2000:
            raise ValueError("url is longer than 2000 characters")
        return value


class ShareCounts(BaseModel):
    total: int
    by_status: dict[str, int]
    by_network: dict[str, dict[str, int]]


class NetworkReach(BaseModel):
    """Latest read-backs summed over a network's shares. None: the network does not report it
    (Mastodon has no impressions), which is not the same as 0."""

    shares_measured: int
    potential_reach: int | None = Field(description="Sum of followers of the posting accounts.")
    reshares: int | None
    likes: int | None
    replies: int | None
    impressions: int | None


class CampaignOut(BaseModel):
    id: uuid.UUID
    title: str
    url: str
    message: str
    networks: list[str]
    status: str = Field(
        description="accepted (not yet staged), scheduled (shares staged, some still to post), "
        "completed (every share has an outcome), cancelled"
    )
    created_at: datetime
    shares: ShareCounts
    reach: dict[str, NetworkReach]


class AmbassadorIn(_In):
    display_name: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class AmbassadorOut(BaseModel):
    id: uuid.UUID
    external_id: str
    display_name: str
    timezone: str
    active: bool


class AccountIn(_In):
    network: Network
    handle: str = Field(min_length=1, max_length=320)
    base_url: AnyHttpUrl = Field(description="The account's server (Mastodon instance, PDS).")
    access_token: str = Field(min_length=1, max_length=4096, repr=False)
    remote_account_id: str | None = Field(default=None, max_length=200)
    # Review-first sharing comes with the review page; until then every account is auto.
    mode: Literal["auto"] = "auto"


class AccountOut(BaseModel):
    """An account as the API shows it: never its credentials."""

    id: uuid.UUID
    ambassador_external_id: str
    network: str
    handle: str
    base_url: str
    mode: str
    status: str
