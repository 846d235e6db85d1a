"""Record keys in the AT Protocol's TID form: 13 characters of base32-sortable encoding of a
64-bit number (top bit 0, 53 bits of microseconds since the epoch, 10 bits of clock id).

A share's record key comes from values fixed before it was staged (its campaign's creation
time and its own id), so every attempt at it writes the same record: `putRecord` on an existing
key is the same post, never a second one."""

from __future__ import annotations

import uuid
from datetime import datetime

__all__ = ["record_key", "tid"]

_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros: int, clock_id: int) -> str:
    value = ((micros & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def record_key(campaign_created_at: datetime, share_id: uuid.UUID) -> str:
    # One share per account and campaign: the same account's records differ by the campaign's
    # creation time; the clock id spreads shares of one campaign across the 10 bits anyway.
    micros = int(campaign_created_at.timestamp() * 1_000_000)
    return tid(micros, share_id.int % 1024)
