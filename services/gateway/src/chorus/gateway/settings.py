from __future__ import annotations

from pydantic import Field

from chorus.common.settings import ServiceSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(ServiceSettings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Campaign bodies are small; anything much larger is a mistake or an attack.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
