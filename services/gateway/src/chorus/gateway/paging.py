"""Opaque cursors for keyset pagination: the last row's sort key, base64url-encoded JSON.

    cursor = encode_cursor([created_at.isoformat(), str(id)])
    created_at, id = decode_cursor(cursor, lambda k: (datetime.fromisoformat(k[0]), UUID(k[1])))

A page continues after the row it ended on, never at an offset, so rows inserted meanwhile
neither repeat nor shift a row out of the listing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import TypeVar

from chorus.gateway.problems import Problem

__all__ = ["MAX_LIMIT", "decode_cursor", "encode_cursor"]

MAX_LIMIT = 200

T = TypeVar("T")


def encode_cursor(key: list[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parse: Callable[[list[str]], T]) -> T:
    """The sort key as `parse` makes it, or a 422 problem for anything this API did not hand
    out (`parse` raises ValueError on values it cannot read)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
            raise ValueError(cursor)
        return parse(key)
    except (binascii.Error, ValueError, TypeError, RecursionError):
        raise Problem(
            422,
            "The cursor is not one this API handed out; start again without it.",
            errors=[{"location": ["query", "cursor"], "message": "unknown cursor"}],
        ) from None
