"""Bodies of the /v1/webhooks routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, field_validator

from chorus.common.topology import WEBHOOK_EVENTS

__all__ = [
    "DeliveryAttempt",
    "DeliveryPage",
    "DeliveryStatus",
    "WebhookDelivery",
    "WebhookEventType",
    "WebhookIn",
    "WebhookOut",
    "WebhookSecret",
    "WebhookStatus",
]


class WebhookEventType(StrEnum):
    """The events a CMS can subscribe to (the routing keys of `WEBHOOK_EVENTS`)."""

    CAMPAIGN_COMPLETED = "campaign.completed"
    CAMPAIGN_CANCELLED = "campaign.cancelled"
    SHARE_FAILED = "share.failed"
    ACCOUNT_NEEDS_REAUTH = "account.needs_reauth"
    CONSENT_WITHDRAWN = "consent.withdrawn"


assert {e.value for e in WebhookEventType} == {e.ROUTING_KEY for e in WEBHOOK_EVENTS}


class WebhookStatus(StrEnum):
    """active: events are sent. disabled: the endpoint answered 410 Gone, so nothing is sent
    (and what was pending failed) until the CMS enables it again."""

    ACTIVE = "active"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://intranet.example.com/chorus/webhooks",
                    "events": ["campaign.completed", "share.failed"],
                }
            ]
        },
    )

    url: AnyUrl = Field(
        description="Where Chorus POSTs the events: https, on a public address (a CMS on an "
        "intranet address needs CHORUS_WEBHOOKS_ALLOW_PRIVATE on the Chorus side)."
    )
    events: list[WebhookEventType] = Field(min_length=1, max_length=len(WEBHOOK_EVENTS))

    @field_validator("url")
    @classmethod
    def _short(cls, value: AnyUrl) -> AnyUrl:
        if len(str(value)) > 2000:
            raise ValueError("url is longer than 2000 characters")
        return value

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[WebhookEventType]) -> list[WebhookEventType]:
        if len(set(value)) != len(value):
            raise ValueError("events must not repeat")
        return value


_WEBHOOK_EXAMPLE: dict[str, Any] = {
    "id": "6f1c2a9e-4b7d-4c3e-8a2f-1d0e9b8c7a65",
    "url": "https://intranet.example.com/chorus/webhooks",
    "events": ["campaign.completed", "share.failed"],
    "created_at": "2026-12-01T09:30:00Z",
    "status": "active",
    "disabled_at": None,
    "disabled_reason": None,
}


class WebhookOut(BaseModel):
    """An endpoint as listed: never its signing secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [_WEBHOOK_EXAMPLE]})

    id: uuid.UUID
    url: str
    events: list[WebhookEventType]
    created_at: datetime
    status: WebhookStatus
    disabled_at: datetime | None = None
    disabled_reason: str | None = Field(
        default=None, description="Why it was disabled, e.g. the endpoint answered 410 Gone."
    )


class WebhookSecret(WebhookOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_WEBHOOK_EXAMPLE, "secret": "whsec_5m0Vq0yJ9bq1rXr2m4Qv6kA8sT3uW1yZ"}]
        }
    )

    secret: str | None = Field(
        description="The signing secret, shown this once: store it now. A retry with the "
        "same Idempotency-Key answers null."
    )


class DeliveryAttempt(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The endpoint's answer; null if none came.")
    error: str | None = None
    ms: int = Field(description="How long the attempt took, in milliseconds.")


_DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": "2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5e7a",
    "event_id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "event_type": "share.failed",
    "status": "delivered",
    "attempts": 2,
    "next_attempt_at": None,
    "last_status_code": 200,
    "last_error": None,
    "created_at": "2026-12-01T09:30:00Z",
    "delivered_at": "2026-12-01T09:30:31Z",
    "payload": {"share_id": "…", "reason": "x 401: token revoked"},
    "attempt_log": [
        {
            "at": "2026-12-01T09:30:00Z",
            "status_code": 503,
            "error": "the endpoint answered 503",
            "ms": 41,
        },
        {"at": "2026-12-01T09:30:31Z", "status_code": 200, "error": None, "ms": 38},
    ],
}


class WebhookDelivery(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DELIVERY_EXAMPLE]})

    id: uuid.UUID
    event_id: uuid.UUID = Field(description="Sent as Chorus-Webhook-Id: the same on every retry.")
    event_type: WebhookEventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next attempt is due.")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The event's `data`, as sent.")
    attempt_log: list[DeliveryAttempt]


class DeliveryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DELIVERY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[WebhookDelivery] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null: no more."
    )
