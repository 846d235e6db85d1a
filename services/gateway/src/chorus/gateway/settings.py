from __future__ import annotations

from pydantic import Field

from chorus.common.settings import ServiceSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Campaign bodies are small; anything much larger is a mistake or an attack.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
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
