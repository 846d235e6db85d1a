from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, Field, field_validator, model_validator

from chorus.common.kinds import Network
from chorus.common.messages import MAX_EVENTS_PER_MESSAGE
from chorus.common.settings import LinkSettings, ServiceSettings
from chorus.networks import publishable

__all__ = ["PublisherSettings"]


class PublisherSettings(ServiceSettings, LinkSettings):
    model_config = ServiceSettings.model_config | {"populate_by_name": True}

    # NETWORK=mastodon, as the deployment sets it; CHORUS_NETWORK works too.
    network: Network = Field(
        validation_alias=AliasChoices("NETWORK", "CHORUS_NETWORK", "network"),
        description="The one network this deployment posts to.",
    )
    prefetch: int = Field(default=200, ge=1, le=5000, description="Posts in flight at most.")
    prefetch_messages: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Messages taken from the queue at once. Each carries up to the scheduler's "
        "CHORUS_SHARES_PER_MESSAGE shares, which wait for one of the `prefetch` places in "
        "flight: enough to keep those full between messages, few enough that a replica does "
        "not hoard shares that another replica could post, and that a share waits far less "
        "than the sweeper's CHORUS_QUEUED_AFTER_SECONDS.",
    )
    published_per_message: int = Field(
        default=MAX_EVENTS_PER_MESSAGE,
        ge=1,
        le=MAX_EVENTS_PER_MESSAGE,
        description="Published shares one event message to the metrics service carries at "
        "most (a batch of outcomes recorded together goes in one). 1 sends the one-share "
        "events of earlier releases: set it while a metrics service of such a release still "
        "consumes, during a rolling upgrade.",
    )
    http_max_connections: int = Field(default=200, ge=1)
    attempt_deadline_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Total time one attempt at a share may take (a look-up of an earlier "
        "attempt's post and the post itself); past it the attempt counts as ambiguous.",
    )
    longest_rate_wait_seconds: float = Field(
        default=25 * 3600,
        ge=5,
        le=25 * 3600,
        description='The longest a network\'s "wait until" is honoured before trying again '
        "(LinkedIn's daily limit resets at midnight UTC; Facebook's throttles last an hour). "
        "Shorter means earlier retries that may meet another 429, which spends no attempt.",
    )
    claim_lease_seconds: float = Field(
        default=45.0,
        gt=0,
        description="How long a claimed share belongs to the attempt that claimed it; past it "
        "a redelivery or the sweeper takes it over. Longer than an attempt can take.",
    )

    @field_validator("network")
    @classmethod
    def _publishable(cls, value: Network) -> Network:
        if value not in publishable():
            raise ValueError(f"no publisher for {value.value} yet")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Self:
        if self.network_deadline_seconds > self.attempt_deadline_seconds:
            raise ValueError("network_deadline_seconds must not exceed attempt_deadline_seconds")
        if self.claim_lease_seconds < self.attempt_deadline_seconds + 5:
            raise ValueError(
                "claim_lease_seconds must exceed attempt_deadline_seconds by 5 s at least: a "
                "share could be taken over while its attempt is still sending"
            )
        return self
