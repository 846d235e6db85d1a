from __future__ import annotations

from pydantic import Field

from chorus.common.settings import ServiceSettings

__all__ = ["SchedulerSettings"]


class SchedulerSettings(ServiceSettings):
    release_batch: int = Field(default=1000, ge=1, le=50_000)
    release_poll_seconds: float = Field(default=1.0, gt=0)
    # A share released or mid-publish for this long without an outcome is released again
    # (its message was dead-lettered, or its publisher vanished); publishing is idempotent.
    stale_after_seconds: float = Field(default=900.0, gt=0)
    consumer_prefetch: int = Field(default=8, ge=1)
