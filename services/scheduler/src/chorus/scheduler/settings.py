from __future__ import annotations

from pydantic import Field

from chorus.common.settings import ServiceSettings, WebhookSettings

__all__ = ["SchedulerSettings"]


class SchedulerSettings(ServiceSettings, WebhookSettings):
    release_batch: int = Field(default=1000, ge=1, le=50_000)
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
