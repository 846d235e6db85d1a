"""The bodies the /_sim controls take."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "AppRequest",
    "ClockStep",
    "Counts",
    "FaultPlan",
    "Followers",
    "LimitsPatch",
    "Network",
    "NewAccounts",
]

Network = Literal["mastodon", "x", "linkedin", "facebook"]


class NewAccounts(BaseModel):
    network: Network = "mastodon"
    username: str = Field(default="user", min_length=1, max_length=30)
    count: int = Field(default=1, ge=1, le=100_000)
    followers: int = Field(default=0, ge=0)
    # Facebook only: "page" (default) or "user" (a person managing `pages` new pages).
    kind: Literal["page", "user"] = "page"
    pages: int = Field(default=1, ge=0, le=100)
    # None: the network's own lifetime (X 2 h, LinkedIn and Facebook users 60 d); 0: never.
    token_ttl_seconds: float | None = Field(default=None, ge=0)


class AppRequest(BaseModel):
    network: Network
    name: str = Field(default="Chorus", min_length=1, max_length=100)
    redirect_uris: list[str] = Field(min_length=1)
    scopes: str = ""
    partner: bool = False


class FaultPlan(BaseModel):
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    next: list[Literal["429", "500", "503", "timeout"]] = Field(default_factory=list)
    hang_seconds: float = Field(default=30.0, ge=0, le=600)
    # One-shot faults met only by read-backs (Mastodon's batch status read), so a test can
    # make a read fail without a post meeting the fault first.
    reads: list[Literal["429", "500", "503"]] = Field(default_factory=list)


class Counts(BaseModel):
    reshares: int | None = Field(default=None, ge=0)
    likes: int | None = Field(default=None, ge=0)
    replies: int | None = Field(default=None, ge=0)
    quotes: int | None = Field(default=None, ge=0)
    impressions: int | None = Field(default=None, ge=0)


class Followers(BaseModel):
    followers: int = Field(ge=0)


class ClockStep(BaseModel):
    advance_seconds: float = Field(gt=0, le=400 * 86400)


class LimitsPatch(BaseModel):
    mastodon_max_characters: int | None = Field(default=None, ge=1)
    mastodon_media_processing_seconds: float | None = Field(default=None, ge=0)
    x_tweets_per_15min: int | None = Field(default=None, ge=0)
    x_user_24h: int | None = Field(default=None, ge=0)
    x_app_24h: int | None = Field(default=None, ge=0)
    linkedin_member_daily: int | None = Field(default=None, ge=0)
    linkedin_versions: list[str] | None = None
    facebook_calls_per_hour: int | None = Field(default=None, ge=0)
    facebook_throttle_code: Literal[4, 17, 32, 613] | None = None
