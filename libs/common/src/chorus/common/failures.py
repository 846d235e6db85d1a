"""The failure taxonomy, in one place: what a handler or a network client may raise, and what
the caller does about it.

- `RateLimited`: the network said wait. Not a failure: the share is delayed, no retry is spent,
  and the wait is shared by every publisher (per account, or per app: `scope`).
- `TransientFailure`: may work later (5xx, connection error, timeout). Retried with backoff
  up to a limit, then the share fails with the reason.
- `PermanentFailure`: will not work by trying again (422 validation, a post the network
  refuses). The share fails now, with the network's own reason.
- `AuthorizationFailure`: the account's authorisation is gone (token revoked, consent
  withdrawn at the network, refresh refused). The share fails, and the account is marked as
  needing to be connected again; its other shares are not tried until it is.
- `TokenExpired`: the access token ran out and the account can refresh it: refresh, then
  retry the same call once.
- `MessageRejected`: the bus message itself is unusable. Dead-lettered, never redelivered.
- `RetryLater`: the message is fine but cannot be handled yet. Handed back to the queue after a
  pause, without alarm.
"""

from __future__ import annotations

import enum
from datetime import datetime

__all__ = [
    "AuthorizationFailure",
    "FailureKind",
    "MessageRejected",
    "PermanentFailure",
    "RateLimited",
    "RateScope",
    "RetryLater",
    "TokenExpired",
    "TransientFailure",
]


class FailureKind(enum.StrEnum):
    """Why a share ended failed, as a bounded label for Prometheus and the dashboards (the
    share's own `reason` keeps the network's words)."""

    # The account's authorisation is gone: the colleague must connect it again.
    AUTHORISATION = "authorisation"
    # The network refused the post itself; trying again would be refused again.
    PERMANENT = "permanent"
    # Transient errors until no attempt was left.
    EXHAUSTED = "exhausted"
    # The network kept saying "wait" past the waits a share may spend.
    RATE_LIMITED = "rate_limited"
    # Our own side: stored credentials that the key ring cannot open.
    CREDENTIALS = "credentials"


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


class AuthorizationFailure(PermanentFailure):
    """The account must be connected again before anything is posted for it."""


class TokenExpired(Exception):
    """The access token expired; a refresh (where the account has one) makes the call work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateScope(enum.StrEnum):
    # The colleague's own account (or user token) ran out.
    ACCOUNT = "account"
    # Chorus's app on the network ran out, for every colleague at once (X's 24-hour cap).
    APP = "app"


class RateLimited(Exception):
    def __init__(
        self, reason: str, *, until: datetime, scope: RateScope = RateScope.ACCOUNT
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until
        self.scope = scope


class MessageRejected(Exception):
    """Raise from a handler when a message can never be processed; it is dead-lettered."""


class RetryLater(Exception):
    """Raise from a handler when its message must wait; it goes back after a pause."""
