"""Reading values out of a network's answer as untrusted input: what does not fit is refused
here, with a clear reason, before it can reach the database or a message."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chorus.common.http import HttpAnswer
from chorus.common.text import line_problem

__all__ = [
    "count_of",
    "epoch_header",
    "int_header",
    "iso_time",
    "json_object",
    "optional_url",
    "remote_id_of",
]

MAX_REMOTE_ID = 300
MAX_URL = 2000


def count_of(value: object) -> int:
    """A count (likes, followers...): a non-negative integer, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValueError(f"not a count: {value!r:.40}")
    return value


def remote_id_of(value: object) -> str:
    """A post's or account's id as the network gave it, or ValueError."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REMOTE_ID:
        raise ValueError(f"not an id: {value!r:.40}")
    if line_problem(value) is not None:
        raise ValueError("the id holds control characters")
    return value


def optional_url(value: object) -> str | None:
    """A URL the network reported (a post's public page), or None if it is not usable."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL or line_problem(value):
        return None
    return value if value.startswith(("https://", "http://")) else None


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    """An integer header (a rate limit's count), or None when absent or not a number."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def epoch_header(headers: Mapping[str, str], name: str) -> datetime | None:
    """A header holding a time in epoch seconds (X, Bluesky), or None."""
    seconds = int_header(headers, name)
    if seconds is None or not 0 <= seconds < 253402300800:  # year 10000
        return None
    return datetime.fromtimestamp(seconds, UTC)


def iso_time(raw: object) -> datetime | None:
    """An ISO-8601 time (`...Z`, with or without microseconds), as an aware datetime."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_object(answer: HttpAnswer) -> dict[str, Any]:
    """The answer's body as a JSON object, or ValueError."""
    body = answer.json()
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    return body
