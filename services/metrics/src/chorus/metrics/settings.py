from __future__ import annotations

from pydantic import Field, PositiveInt

from chorus.common.messages import MAX_EVENTS_PER_MESSAGE
from chorus.common.settings import ServiceSettings

__all__ = ["MetricsSettings"]


class MetricsSettings(ServiceSettings):
    # Seconds after publishing at which counts are read back, decaying. The first sample comes
    # with the network's answer to the post; where it carried none, one is read at once.
    readback_after: tuple[PositiveInt, ...] = (3600, 6 * 3600, 24 * 3600, 3 * 86400, 7 * 86400)
    readback_batch: int = Field(default=200, ge=1, le=5000)
    readback_attempts: int = Field(default=5, ge=1)
    poll_seconds: float = Field(default=5.0, gt=0)
    gauge_refresh_seconds: float = Field(default=15.0, gt=0)
    # Messages taken at once. A message carries up to a publisher's CHORUS_PUBLISHED_PER_MESSAGE
    # shares (a batch of outcomes, a few dozen under load): 100 full ones are 50,000 events,
    # about 50 MB, held only while a statement stores them.
    consumer_prefetch: int = Field(default=100, ge=1)
    # Published shares one statement stores at most, over the messages that arrived together.
    schedule_batch: int = Field(default=MAX_EVENTS_PER_MESSAGE, ge=1, le=MAX_EVENTS_PER_MESSAGE)
    # How long a published share's bookkeeping waits for others to share its statement and its
    # acks' write (the events come a handful at a time): a share without counts is read that
    # much later, the others' first read-back is an hour away.
    schedule_linger_seconds: float = Field(default=0.05, ge=0, le=1)
