"""Storing samples: each one once (a redelivered event or a retried read adds nothing), and the
newest per share kept in `latest_metrics`, where reports and gauges read it.

    WITH samples AS (...), {storing("samples")} INSERT INTO ...

`storing` gives the statements as data-modifying CTEs, so a caller with more to write (the
handler's read-backs) still writes everything in one statement: one round trip, no BEGIN or
COMMIT, and atomic all the same."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from chorus.common.db import Executor

__all__ = ["ARRAYS", "COLUMNS", "COUNTS", "store_samples", "storing"]

# Counts a network may leave out (None): "not available" is not zero.
COUNTS = ("reshares", "likes", "replies", "impressions", "followers")
_TYPES = {
    "org_id": "uuid",
    "share_id": "uuid",
    "campaign_id": "uuid",
    "network": "text",
    "taken_at": "timestamptz",
    **dict.fromkeys(COUNTS, "int"),
}
COLUMNS = tuple(_TYPES)
# The samples as parameters, one array per column, for `unnest(...)`.
ARRAYS = ", ".join(f"CAST(:{column} AS {kind}[])" for column, kind in _TYPES.items())
_LIST = ", ".join(COLUMNS)
_NEWER = ", ".join(f"{column} = excluded.{column}" for column in ("taken_at", *COUNTS))


def storing(source: str) -> str:
    """The CTEs `new_samples` and `new_latest` storing the rows of the relation `source`: its
    COLUMNS, and `ord`, the order the samples came in."""
    return f"""
    new_samples AS (
        INSERT INTO metric_samples ({_LIST}) SELECT {_LIST} FROM {source}
        ON CONFLICT (share_id, taken_at) DO NOTHING
    ),
    new_latest AS (
        INSERT INTO latest_metrics ({_LIST})
        -- One statement may update a row once: of a share's samples (a redelivered event
        -- next to its first delivery) the newest stands for it, the later on a tie, as it
        -- would have won row by row.
        SELECT DISTINCT ON (share_id) {_LIST} FROM {source}
        ORDER BY share_id, taken_at DESC, ord DESC
        ON CONFLICT (share_id) DO UPDATE SET {_NEWER}
        WHERE latest_metrics.taken_at <= excluded.taken_at
    )
    """


# Over arrays, one statement per batch whatever its size (compiled once per process): as
# executemany, each row was a statement of its own, in this process and in PostgreSQL.
_STORE = text(
    f"""
    WITH samples AS (
        SELECT * FROM unnest({ARRAYS})
            WITH ORDINALITY AS s({_LIST}, ord)
    ),
    {storing("samples")}
    SELECT 1
    """
)


async def store_samples(session: Executor, samples: Sequence[dict[str, Any]]) -> None:
    """`samples`: rows of metric_samples, each with its `taken_at`."""
    if not samples:
        return
    await session.execute(_STORE, {column: [s.get(column) for s in samples] for column in COLUMNS})
