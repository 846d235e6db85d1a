"""The failure taxonomy, in one place: what a handler or a network client may raise, and what
the caller does about it.

- `RateLimited`: the network said wait. Not a failure: the share is delayed, no retry is spent.
- `TransientFailure`: may work later (5xx, connection error, timeout). Retried with backoff
  up to a limit, then the share fails with the reason.
- `PermanentFailure`: will not work by trying again (401 token revoked, 422 validation). The
  share fails now, with the reason.
- `MessageRejected`: the bus message itself is unusable. Dead-lettered, never redelivered.
- `RetryLater`: the message is fine but cannot be handled yet (another attempt at the same
  share is under way). Handed back to the queue after a pause, without alarm.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["MessageRejected", "PermanentFailure", "RateLimited", "RetryLater", "TransientFailure"]


class TransientFailure(Exception):
    def __init__(self, reason: str, *, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # True when the request may have reached the network (timeout after sending): only
        # safe to retry where the network deduplicates, or after looking the post up.
        self.ambiguous = ambiguous


class PermanentFailure(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimited(Exception):
    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


class MessageRejected(Exception):
    """Raise from a handler when a message can never be processed; it is dead-lettered."""


class RetryLater(Exception):
    """Raise from a handler when its message must wait; it goes back after a pause."""
