"""The /v1 API's request and response bodies. Every text field is checked for what PostgreSQL
and the networks cannot take (`SafeText`, `SafeLine`)."""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from chorus.common.kinds import CampaignStatus, Network, ShareStatus
from chorus.common.text import SafeLine, SafeText
from chorus.gateway.campaign_window import Audience, WindowChoice, WindowOut
from chorus.gateway.preview_schemas import PREVIEW_EXAMPLE, NetworkPreview, VariantIn
from chorus.gateway.utm_schema import UtmIn
from chorus.networks import publishable

__all__ = [
    "BULK_LIMIT",
    "CAMPAIGN_EXAMPLE",
    "AccountIn",
    "AccountOut",
    "AmbassadorDetail",
    "AmbassadorIn",
    "AmbassadorItem",
    "AmbassadorOut",
    "AmbassadorPage",
    "AmbassadorStatus",
    "AmbassadorsIn",
    "AmbassadorsUpserted",
    "ApiKeyIn",
    "ApiKeyOut",
    "ApiKeySecret",
    "ApiKeyStatus",
    "CampaignIn",
    "CampaignOut",
    "ConsentOut",
    "ImageIn",
    "NetworkReach",
    "PostableNetwork",
    "QuietHours",
    "RotateIn",
    "RotatedApiKey",
    "ShareCounts",
    "UpsertResult",
    "UpsertedAmbassador",
]


def _postable(value: Network) -> Network:
    if value not in publishable():
        raise ValueError(f"Chorus cannot post to {value.value} yet")
    return value


# The networks Chorus can post to today, as the OpenAPI document lists them.
PostableNetwork = Annotated[
    Network,
    AfterValidator(_postable),
    WithJsonSchema({"type": "string", "enum": sorted(n.value for n in publishable())}),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _url_problem(value: AnyHttpUrl) -> AnyHttpUrl:
    if len(str(value)) > 2000:
        raise ValueError("url is longer than 2000 characters")
    if value.username is not None or value.password is not None:
        raise ValueError("url must not carry a user name or password")
    return value


PublicUrl = Annotated[AnyHttpUrl, AfterValidator(_url_problem)]


class ImageIn(_In):
    url: PublicUrl = Field(description="Where the CMS hosts the image (PNG, JPEG, GIF, WebP).")
    alt: SafeText = Field(default="", max_length=1000, description="Alt text for screen readers.")


class CampaignIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "We shipped",
                    "url": "https://example.com/launch",
                    "message": "Our new release is out: what it means for you.",
                    "networks": ["mastodon"],
                }
            ]
        }
    )

    title: SafeLine = Field(min_length=1, max_length=300)
    url: PublicUrl
    message: SafeText = Field(min_length=1, max_length=10_000)
    networks: list[PostableNetwork] = Field(min_length=1, max_length=5)
    description: SafeText = Field(
        default="",
        max_length=1000,
        description="The link card's description where Chorus builds the card (Bluesky, "
        "LinkedIn); other networks read the page's own tags.",
    )
    images: list[ImageIn] = Field(
        default_factory=list,
        max_length=4,
        description="Images uploaded with every post, through each network's own upload.",
    )
    window: WindowChoice = Field(
        default="now",
        description='When the shares go out: {"starts_at", "ends_at"} (at most 30 days, ending '
        'in the future), spread over each colleague\'s open hours, or "now": spread over the '
        "next 24 hours, or posted at once where the organisation's spread_now setting is off.",
    )
    audience: Audience = Field(
        default="everyone",
        description='Whose accounts post it: "everyone" (every active colleague), '
        '{"groups": [...]} (colleagues in any of them, at most 100) or {"colleagues": [...]} '
        "(the CMS's external ids, at most 1,000; a larger audience is a group).",
    )

    variants: dict[PostableNetwork, VariantIn] = Field(
        default_factory=dict,
        description="A network's own text, posted there instead of `message`; only for "
        "networks in `networks`. Checked against that network's limits like `message`.",
        examples=[{"x": {"message": "Out now: what it means for you."}}],
    )
    utm: UtmIn | None = Field(
        default=None,
        description="UTM parameters of the tracked links (the defaults when not given).",
    )

    @field_validator("networks")
    @classmethod
    def _unique(cls, value: list[Network]) -> list[Network]:
        if len(set(value)) != len(value):
            raise ValueError("networks must not repeat")
        return value

    @field_validator("variants")
    @classmethod
    def _only_listed(
        cls, value: dict[Network, VariantIn], info: ValidationInfo
    ) -> dict[Network, VariantIn]:
        listed = set(info.data.get("networks") or ())
        unlisted = sorted(n.value for n in value if n not in listed)
        if unlisted and "networks" in info.data:
            raise ValueError(
                f"variants for networks the campaign is not posted to: {', '.join(unlisted)}"
            )
        return value


class ShareCounts(BaseModel):
    total: int
    open: int = Field(
        default=0, description="Shares without an outcome yet (planned, queued, publishing...)."
    )
    by_status: dict[ShareStatus, int] = Field(description="Shares per status.")
    by_network: dict[Network, dict[ShareStatus, int]] = Field(
        description="Shares per status on each of the campaign's networks; a network with no "
        "share (nobody connected there) is listed empty."
    )


class NetworkReach(BaseModel):
    """Latest read-backs summed over a network's shares. None: the network does not report it
    (Mastodon has no impressions), which is not the same as 0."""

    shares_measured: int
    potential_reach: int | None = Field(description="Sum of followers of the posting accounts.")
    reshares: int | None
    likes: int | None
    replies: int | None
    impressions: int | None


CAMPAIGN_EXAMPLE: dict[str, Any] = {
    "id": "3f1c2a9e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
    "title": "We shipped",
    "url": "https://example.com/launch",
    "message": "Our new release is out: what it means for you.",
    "networks": ["mastodon", "x"],
    "variants": {"x": {"message": "Out now: what it means for you."}},
    "preview": PREVIEW_EXAMPLE,
    "status": "scheduled",
    "created_at": "2026-12-01T09:30:00Z",
    "completed_at": None,
    "shares": {
        "total": 3,
        "open": 1,
        "by_status": {"published": 1, "failed": 1, "planned": 1},
        "by_network": {"mastodon": {"published": 1, "planned": 1}, "x": {"failed": 1}},
    },
    "reach": {
        "mastodon": {
            "shares_measured": 1,
            "potential_reach": 420,
            "reshares": 3,
            "likes": 12,
            "replies": 1,
            "impressions": None,
        }
    },
}


class CampaignOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CAMPAIGN_EXAMPLE]})

    id: uuid.UUID
    title: str
    url: str
    message: str
    networks: list[Network]
    variants: dict[Network, VariantIn] = Field(
        default_factory=dict, description="Each network's own text, where it has one."
    )
    preview: dict[Network, NetworkPreview] = Field(
        default_factory=dict,
        description="Each network's post as that network will show it, measured its way.",
    )
    status: CampaignStatus = Field(
        description="accepted (not yet staged), scheduled (shares staged, some still to post), "
        "completed (every share has an outcome), cancelled"
    )
    created_at: datetime
    completed_at: datetime | None = None
    cancelled_at: datetime | None = Field(
        default=None, description="When the CMS cancelled it; null unless cancelled."
    )
    window: WindowOut | Literal["now"] = "now"
    audience: Audience = "everyone"
    shares: ShareCounts
    reach: dict[str, NetworkReach]


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_zone(value: str) -> str:
    # The IANA names this machine's database knows, and only those: ZoneInfo() would also
    # open a file path that merely looks like a zone.
    if value not in _zones():
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris')")
    return value


# "HH:MM", not the JSON Schema `time` format: that one is RFC 3339's, with an offset, and
# quiet hours are the colleague's local time wherever the clocks change.
LocalTime = Annotated[
    str,
    Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["22:00"]),
]


class QuietHours(_In):
    """No share is planned from `start` to `end`, the colleague's local time ("HH:MM"; across
    midnight when `start` is later than `end`). Equal times mean no quiet hours."""

    start: LocalTime = "22:00"
    end: LocalTime = "07:00"


class AmbassadorStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    LEFT = "left"


GroupName = Annotated[SafeLine, Field(min_length=1, max_length=100)]


class AmbassadorIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "display_name": "Alice Martin",
                    "timezone": "Europe/Paris",
                    "quiet_hours": {"start": "21:00", "end": "08:00"},
                    "groups": ["comms", "paris"],
                    "status": "active",
                }
            ]
        }
    )

    display_name: SafeLine = Field(min_length=1, max_length=200)
    timezone: Annotated[SafeLine, AfterValidator(_known_zone)] = Field(
        default="UTC", min_length=1, max_length=64, description="An IANA time zone name."
    )
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    groups: list[GroupName] = Field(
        default_factory=list,
        max_length=50,
        description="The CMS's groups or teams the colleague is in (a campaign's audience). "
        "Order and repeats do not matter.",
    )
    status: AmbassadorStatus = Field(
        default=AmbassadorStatus.ACTIVE,
        description="active; paused (no new shares; planned ones are cancelled, and going "
        "back to active brings back future campaigns only); left (also: every account's "
        "credentials are erased).",
    )

    @field_validator("groups")
    @classmethod
    def _as_set(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class AmbassadorItem(AmbassadorIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "external_id": "cms-1042",
                    "display_name": "Alice Martin",
                    "timezone": "Europe/Paris",
                    "groups": ["comms"],
                }
            ]
        }
    )

    external_id: SafeLine = Field(
        min_length=1, max_length=200, description="The CMS's own id of the colleague."
    )


BULK_LIMIT = 1000


class AmbassadorsIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ambassadors": [
                        {
                            "external_id": "cms-1042",
                            "display_name": "Alice Martin",
                            "timezone": "Europe/Paris",
                            "groups": ["comms"],
                        },
                        {"external_id": "cms-1043", "display_name": "Bob", "status": "left"},
                    ]
                }
            ]
        }
    )

    ambassadors: list[AmbassadorItem] = Field(
        min_length=1,
        max_length=BULK_LIMIT,
        description=f"Up to {BULK_LIMIT} colleagues, each external_id at most once.",
    )


class UpsertResult(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class UpsertedAmbassador(BaseModel):
    external_id: str
    id: uuid.UUID
    result: UpsertResult


class AmbassadorsUpserted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "created": 1,
                    "updated": 0,
                    "unchanged": 1,
                    "ambassadors": [
                        {
                            "external_id": "cms-1042",
                            "id": "0b9f3c4e-8d2a-4f7e-9a51-3c2d1e0f9a8b",
                            "result": "created",
                        },
                        {
                            "external_id": "cms-1043",
                            "id": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
                            "result": "unchanged",
                        },
                    ],
                }
            ]
        }
    )

    created: int
    updated: int
    unchanged: int
    ambassadors: list[UpsertedAmbassador] = Field(description="In the request's order.")


_AMBASSADOR_EXAMPLE: dict[str, Any] = {
    "id": "0b9f3c4e-8d2a-4f7e-9a51-3c2d1e0f9a8b",
    "external_id": "cms-1042",
    "display_name": "Alice Martin",
    "timezone": "Europe/Paris",
    "quiet_hours": {"start": "22:00", "end": "07:00"},
    "groups": ["comms"],
    "status": "active",
    "updated_at": "2026-12-02T08:15:00Z",
}


class AmbassadorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_AMBASSADOR_EXAMPLE]})

    id: uuid.UUID
    external_id: str
    display_name: str
    timezone: str
    quiet_hours: QuietHours
    groups: list[str]
    status: AmbassadorStatus
    updated_at: datetime = Field(description="When the CMS last changed something.")


class AmbassadorPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_AMBASSADOR_EXAMPLE], "next_cursor": None}]}
    )

    items: list[AmbassadorOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class ConsentOut(BaseModel):
    """The latest entry of the consent ledger for one network."""

    network: Network
    state: Literal["granted", "withdrawn"]
    mode: Literal["auto", "review"] | None = Field(description="While granted.")
    actor: str = Field(description="Who made the change: cms, colleague or system.")
    at: datetime


def _token(value: str) -> str:
    # Tokens travel in an HTTP header: visible ASCII only, or the network call could not even
    # be made.
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError("access_token must be printable ASCII without spaces")
    return value


class AccountIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "network": "mastodon",
                    "handle": "alice",
                    "base_url": "https://mastodon.example",
                    "access_token": "token-from-the-oauth-flow",
                }
            ]
        }
    )

    network: PostableNetwork
    handle: SafeLine = Field(min_length=1, max_length=320)
    base_url: PublicUrl = Field(description="The account's server (Mastodon instance, PDS).")
    access_token: Annotated[SafeLine, AfterValidator(_token)] = Field(
        min_length=1, max_length=4096, repr=False
    )
    remote_account_id: SafeLine | None = Field(default=None, max_length=200)
    # Review-first sharing comes with the review page; until then every account is auto.
    mode: Literal["auto"] = "auto"


class AccountOut(BaseModel):
    """An account as the API shows it: never its credentials."""

    id: uuid.UUID
    ambassador_external_id: str
    network: Network
    handle: str
    base_url: str
    mode: Literal["auto", "review"]
    status: Literal["connected", "needs_reauth", "revoked"] = Field(
        description="needs_reauth: the network refused the account's authorisation; the "
        "colleague must connect it again (status_reason says why)."
    )
    status_reason: str | None = None
    kind: str = Field(default="", description='"page" for a Facebook Page; empty elsewhere.')
    authorized_until: datetime | None = Field(
        default=None,
        description="When the authorisation runs out and cannot be refreshed (LinkedIn's 60 "
        "days): the colleague is asked to connect again before then.",
    )
    consent_expires_at: datetime | None = Field(
        default=None,
        description="When the colleague's consent runs out where the network limits it "
        "(LinkedIn: a year after it was granted); their page offers to renew it in the last "
        "30 days. A share due after it is skipped (`consent expired`), never posted.",
    )


class AmbassadorDetail(AmbassadorOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_AMBASSADOR_EXAMPLE,
                    "accounts": [
                        {
                            "id": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
                            "ambassador_external_id": "cms-1042",
                            "network": "linkedin",
                            "handle": "Alice Martin",
                            "base_url": "https://api.linkedin.com",
                            "mode": "auto",
                            "status": "needs_reauth",
                            "status_reason": "the network refused the token",
                            "kind": "",
                            "authorized_until": "2027-01-30T08:15:00Z",
                        }
                    ],
                    "consent": [
                        {
                            "network": "linkedin",
                            "state": "granted",
                            "mode": "auto",
                            "actor": "colleague",
                            "at": "2026-12-01T08:15:00Z",
                        }
                    ],
                }
            ]
        }
    )

    accounts: list[AccountOut]
    consent: list[ConsentOut] = Field(description="Per network, the ledger's latest entry.")


class ApiKeyIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Intranet CMS (production)"}]}
    )

    name: SafeLine = Field(min_length=1, max_length=200, description="For people: what uses it.")
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working; never if not given."
    )


class RotateIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"grace_seconds": 3600}]})

    grace_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the old key keeps working, so the CMS can switch over: 24 h "
        "if not given, at most 30 days; 0 ends it now.",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the new key stops working; never if not given."
    )


class ApiKeyStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


_KEY_EXAMPLE: dict[str, Any] = {
    "id": "0b9f3c4e-8d2a-4f7e-9a51-3c2d1e0f9a8b",
    "name": "Intranet CMS (production)",
    "prefix": "chorus_Xy3kP9aQ",
    "status": "active",
    "created_at": "2026-12-01T09:30:00Z",
    "last_used_at": "2026-12-02T08:15:00Z",
    "expires_at": None,
    "revoked_at": None,
}


class ApiKeyOut(BaseModel):
    """An API key as listed: never the key itself, which is shown once, when made."""

    model_config = ConfigDict(json_schema_extra={"examples": [_KEY_EXAMPLE]})

    id: uuid.UUID
    name: str
    prefix: str | None = Field(
        description="The key's first characters, to tell keys apart; null for a key made "
        "before keys were managed through the API."
    )
    status: ApiKeyStatus = Field(
        description="active (works, until `expires_at` if set), expired, revoked."
    )
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute.")
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeySecret(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**_KEY_EXAMPLE, "key": "chorus_Xy3kP9aQ" + "x" * 35, "last_used_at": None}
            ]
        }
    )

    key: str | None = Field(
        description="The key: send it as `Authorization: Bearer <key>`. Shown this once; "
        "Chorus keeps only its hash, so a retry of the request with the same Idempotency-Key "
        "answers null here (if the key was lost, revoke it and make another)."
    )


class RotatedApiKey(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current": {
                        **_KEY_EXAMPLE,
                        "id": "5d6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
                        "prefix": "chorus_Lm7Qr2Zt",
                        "key": "chorus_Lm7Qr2Zt" + "y" * 35,
                        "last_used_at": None,
                    },
                    "previous": {**_KEY_EXAMPLE, "expires_at": "2026-12-03T08:15:00Z"},
                }
            ]
        }
    )

    current: ApiKeySecret = Field(description="The new key, shown this once.")
    previous: ApiKeyOut = Field(description="The old key: it works until its `expires_at`.")
