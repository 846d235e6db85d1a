"""What a webhook looks like on the wire, shared by the gateway (which makes endpoints and
shows deliveries) and the scheduler (which sends them).

    body = envelope(event_id=..., event_type="share.failed", created_at=..., data={...})
    headers = signed_headers(secret, event_id, body, timestamp=int(time.time()))

`Chorus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`; the CMS
recomputes it over the raw body and refuses a timestamp outside its tolerance (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "BACKOFF",
    "backoff",
    "envelope",
    "new_secret",
    "sign",
    "signed_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"

# Waits after failed attempts 1, 2, 3 ...; the last repeats. Nine waits add up to about 28 h,
# enough for a CMS down over a night and a day; with ±20 % jitter so endpoints that were down
# together are not all retried in the same second.
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=12),
)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def backoff(attempts: int, jitter: float) -> timedelta:
    """The wait after `attempts` failed attempts; `jitter` in [-1, 1] moves it by up to 20 %."""
    base = BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]
    return base * (1 + 0.2 * max(-1.0, min(1.0, jitter)))


def envelope(
    *, event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict[str, Any]
) -> bytes:
    return json.dumps(
        {
            "id": str(event_id),
            "type": event_type,
            "created_at": created_at.isoformat(),
            "data": data,
        },
        separators=(",", ":"),
    ).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def signed_headers(
    secret: str, event_id: uuid.UUID, body: bytes, *, timestamp: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Chorus-Webhook-Id": str(event_id),
        "Chorus-Webhook-Timestamp": str(timestamp),
        "Chorus-Signature": sign(secret, timestamp, body),
    }


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (and the tests): the signature matches the raw body, and its
    timestamp is within `tolerance` seconds of `now`."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))
