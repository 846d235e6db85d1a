from __future__ import annotations

from pydantic import Field

from chorus.common.settings import ServiceSettings, WebhookSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(ServiceSettings, WebhookSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # The largest body is a bulk upsert of 1,000 colleagues (about 200 bytes each); anything
    # much larger is a mistake or an attack.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024)
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="Where colleagues' browsers reach the gateway: the networks send them back "
        "to {public_url}/v1/connections/callback after they allow Chorus.",
    )
    allow_raw_tokens: bool = Field(
        default=False,
        description="Development only: accept an account's access token directly "
        "(POST /v1/ambassadors/{id}/accounts). In production accounts are connected through "
        "the networks' own authorisation, and no token passes through the CMS.",
    )
    rate_limit_per_second: float = Field(
        default=20.0,
        gt=0,
        description="Requests per second one API key may send, across every gateway replica.",
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Requests one API key may send at once before waiting."
    )
    replicas: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="How many gateway replicas run (the deployment's replicas): each one "
        "allows its share of a key's rate (see chorus.gateway.ratelimit).",
    )
    idempotency_retention_hours: float = Field(
        default=24.0,
        ge=24.0,
        description="How long the answer to a POST with an Idempotency-Key is kept for retries.",
    )
    idempotency_lease_seconds: float = Field(
        default=120.0,
        ge=30.0,
        le=3600.0,
        description="How long a POST with an Idempotency-Key holds it (retries meanwhile get "
        "409). Longer than any request takes: a replica that died mid-request frees the key "
        "only when this runs out.",
    )
    page_link_days: float = Field(
        default=14.0,
        gt=0,
        le=90,
        description="How long a colleague's page link works (the CMS mails a new one after).",
    )
    idempotency_sweep_seconds: float = Field(
        default=600.0, gt=0, description="How often expired idempotency answers are deleted."
    )
