"""Storing samples: each one once (a redelivered event or a retried read adds nothing), and the
newest per share kept in `latest_metrics`, where reports and gauges read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from chorus.common.db import Executor

__all__ = ["store_samples"]

_COLUMNS = (
    "org_id",
    "share_id",
    "campaign_id",
    "network",
    "taken_at",
    "reshares",
    "likes",
    "replies",
    "impressions",
    "followers",
)
# One statement per batch over arrays, whatever its size (compiled once per process): as
# executemany, each row was a statement of its own, in this process and in PostgreSQL.
_ROWS = """
    SELECT * FROM unnest(CAST(:org_id AS uuid[]), CAST(:share_id AS uuid[]),
        CAST(:campaign_id AS uuid[]), CAST(:network AS text[]), CAST(:taken_at AS timestamptz[]),
        CAST(:reshares AS int[]), CAST(:likes AS int[]), CAST(:replies AS int[]),
        CAST(:impressions AS int[]), CAST(:followers AS int[]))
"""
_NEW_SAMPLES = text(
    f"""
    INSERT INTO metric_samples ({", ".join(_COLUMNS)})
    {_ROWS}
    ON CONFLICT (share_id, taken_at) DO NOTHING
    """
)
_LATEST = text(
    f"""
    INSERT INTO latest_metrics ({", ".join(_COLUMNS)})
    {_ROWS}
    ON CONFLICT (share_id) DO UPDATE SET taken_at = excluded.taken_at,
        reshares = excluded.reshares, likes = excluded.likes, replies = excluded.replies,
        impressions = excluded.impressions, followers = excluded.followers
    WHERE latest_metrics.taken_at <= excluded.taken_at
    """
)


def _arrays(samples: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    return {column: [s.get(column) for s in samples] for column in _COLUMNS}


async def store_samples(session: Executor, samples: Sequence[dict[str, Any]]) -> None:
    """`samples`: rows of metric_samples, each with its `taken_at`."""
    if not samples:
        return
    await session.execute(_NEW_SAMPLES, _arrays(samples))
    # One statement may update a row once: of a share's samples (a redelivered event next to
    # its first delivery), the newest stands for it, as it would have won row by row.
    newest: dict[Any, dict[str, Any]] = {}
    for sample in samples:
        kept = newest.get(sample["share_id"])
        if kept is None or kept["taken_at"] <= sample["taken_at"]:
            newest[sample["share_id"]] = sample
    await session.execute(_LATEST, _arrays(list(newest.values())))
