"""Retry policies, in one place: how long to wait before trying again, and when to stop."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["PUBLISH_ATTEMPTS", "backoff", "redelivery_pause"]

# Network attempts per share before it fails with its last reason (429s do not count).
PUBLISH_ATTEMPTS = 5


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> timedelta:
    """Exponential delay before attempt number `attempt + 1` (attempt counts from 1)."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempt - 1)))


def redelivery_pause(delivery_count: int) -> float:
    """Seconds to hold a message that failed unexpectedly before handing it back, so a
    broken dependency (database down) is not hammered by a tight redelivery loop."""
    return min(10.0, 0.25 * 2.0**delivery_count)
