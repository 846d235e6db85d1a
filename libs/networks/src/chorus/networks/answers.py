"""Reading values out of a network's answer as untrusted input: what does not fit is refused
here, with a clear reason, before it can reach the database or a message."""

from __future__ import annotations

from chorus.common.text import line_problem

__all__ = ["count_of", "optional_url", "remote_id_of"]

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
