from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator

from chorus.common.kinds import Network
from chorus.common.messages import MAX_SHARES_PER_MESSAGE
from chorus.common.settings import ServiceSettings, WebhookSettings
from chorus.common.shares import StagingRules
from chorus.common.shares.staging import X_APP_DAILY_BUDGET

__all__ = ["SchedulerSettings"]


class SchedulerSettings(ServiceSettings, WebhookSettings):
    release_batch: int = Field(default=1000, ge=1, le=50_000)
    shares_per_message: int = Field(
        default=50,
        ge=1,
        le=MAX_SHARES_PER_MESSAGE,
        description="Due shares of one network (and organisation) one message to a publisher "
        "queue carries at most. 1 sends the one-share messages of earlier releases: set it while "
        "publishers of such a release still consume, during a rolling upgrade.",
    )
    release_poll_seconds: float = Field(default=1.0, gt=0)
    # How often lost shares are looked for: attempts whose claim's lease ran out (the
    # publisher died mid-attempt) and released shares whose message is gone. The first are
    # found by an index on the lease, so a short interval costs little and bounds how long a
    # campaign waits after a crash.
    sweep_seconds: float = Field(default=10.0, gt=0)
    # A queued share whose network's queue has drained is taken back after this long without
    # an outcome (its message was dead-lettered); one in a queue that never drains, after
    # `queued_patience_seconds`.
    queued_after_seconds: float = Field(default=300.0, gt=0)
    queued_patience_seconds: float = Field(default=3 * 3600.0, gt=0)
    consumer_prefetch: int = Field(default=8, ge=1)
    # Spreading (staging): shares a colleague's account gets per local day across campaigns;
    # seconds between two shares of one campaign on one network; shares a UTC day Chorus's
    # app may post on X (its per-app cap, with room left for retries is the operator's call).
    daily_cap: int = Field(default=3, ge=1, le=100)
    min_gap_seconds: float = Field(default=30.0, ge=0, le=3600)
    x_app_daily_budget: int = Field(default=X_APP_DAILY_BUDGET, ge=0)
    staging_batch: int = Field(default=10_000, ge=100, le=100_000)
    # Campaigns staged at once in one process: each holds two of the pool's connections (its
    # own and its audience reader's). The others wait their turn, unacknowledged.
    stagings_at_once: int = Field(default=2, ge=1, le=32)

    @model_validator(mode="after")
    def _pool_fits_stagings(self) -> Self:
        # One more at least, for the releaser's, the sweeper's and the webhooks' statements
        # (none holds a connection while waiting for another, so they wait, never deadlock).
        if self.database_pool_size + self.database_max_overflow < 2 * self.stagings_at_once + 1:
            raise ValueError(
                "database_pool_size + database_max_overflow must hold two connections per "
                "staging at once (stagings_at_once) and one more"
            )
        return self

    def staging_rules(self) -> StagingRules:
        return StagingRules(
            daily_cap=self.daily_cap,
            min_gap=timedelta(seconds=self.min_gap_seconds),
            app_daily_budgets={Network.X: self.x_app_daily_budget},
            batch=self.staging_batch,
        )
