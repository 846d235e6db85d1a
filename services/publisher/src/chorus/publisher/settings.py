from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, Field, field_validator, model_validator

from chorus.common.networks import PUBLISHABLE, Network
from chorus.common.settings import ServiceSettings

__all__ = ["PublisherSettings"]


class PublisherSettings(ServiceSettings):
    model_config = ServiceSettings.model_config | {"populate_by_name": True}

    # NETWORK=mastodon, as the deployment sets it; CHORUS_NETWORK works too.
    network: Network = Field(
        validation_alias=AliasChoices("NETWORK", "CHORUS_NETWORK", "network"),
        description="The one network this deployment posts to.",
    )
    prefetch: int = Field(default=200, ge=1, le=5000, description="Posts in flight at most.")
    http_timeout_seconds: float = Field(default=15.0, gt=0)
    http_max_connections: int = Field(default=200, ge=1)
    claim_lease_seconds: float = Field(
        default=45.0,
        gt=0,
        description="How long a claimed share is left to the attempt that claimed it before "
        "a redelivery may take it over. Longer than an attempt can take (a few HTTP calls).",
    )

    @field_validator("network")
    @classmethod
    def _publishable(cls, value: Network) -> Network:
        if value not in PUBLISHABLE:
            raise ValueError(f"no publisher for {value.value} yet")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Self:
        if self.claim_lease_seconds <= self.http_timeout_seconds:
            raise ValueError(
                "claim_lease_seconds must exceed http_timeout_seconds: a share could be taken "
                "over while its first request is still on its way"
            )
        return self
