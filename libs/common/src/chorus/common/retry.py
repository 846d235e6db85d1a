"""Retry policies, in one place: how long to wait before trying again, and when to stop."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

__all__ = [
    "MAX_RATE_WAITS",
    "MAX_REPLANS",
    "PUBLISH_ATTEMPTS",
    "backoff",
    "clamp_rate_wait",
    "redelivery_pause",
]

# Network attempts per share before it fails with its last reason (rate-limit waits do not
# count; they have their own bound).
PUBLISH_ATTEMPTS = 5
# Rate-limit waits per share: a network that keeps saying "wait" (or a reset time that is
# always already past) fails the share with the reason instead of parking it for ever.
MAX_RATE_WAITS = 30
# Times the sweeper may take a share back after its attempt or message was lost.
MAX_REPLANS = 10
# A 429's reset time is the network's word, within reason: never sooner than this (a reset
# in the past would otherwise re-release at once, in a loop) ...
MIN_RATE_WAIT = timedelta(seconds=5)
# ... and never later (LinkedIn's day ends within 24 h; a year-9999 reset would park the
# share for ever).
MAX_RATE_WAIT = timedelta(hours=25)


def backoff(
    attempt: int, *, base: float = 2.0, cap: float = 300.0, jitter: float = 0.2
) -> timedelta:
    """Exponential delay before attempt number `attempt + 1` (attempt counts from 1), spread
    by ±`jitter` so shares that failed together do not all come back together."""
    seconds = min(cap, base * 2 ** max(0, attempt - 1))
    return timedelta(seconds=seconds * random.uniform(1 - jitter, 1 + jitter))


def clamp_rate_wait(
    until: datetime, *, now: datetime, longest: timedelta = MAX_RATE_WAIT
) -> datetime:
    """The network's reset time, trusted within [MIN_RATE_WAIT, longest]."""
    return min(max(until, now + MIN_RATE_WAIT), now + max(longest, MIN_RATE_WAIT))


def redelivery_pause(delivery_count: int) -> float:
    """Seconds to hold a message that failed unexpectedly before handing it back, so a
    broken dependency (database down) is not hammered by a tight redelivery loop."""
    return min(10.0, 0.25 * 2.0**delivery_count)
