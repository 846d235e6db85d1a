"""Storing samples: each one once (a redelivered event or a retried read adds nothing), and the
newest per share kept in `latest_metrics`, where reports and gauges read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.models import MetricSample

__all__ = ["store_samples"]

# Compiled once per process: rows go as parameters (executemany), not as a VALUES list.
_NEW_SAMPLES = insert(MetricSample).on_conflict_do_nothing(index_elements=["share_id", "taken_at"])
_LATEST = text(
    """
    INSERT INTO latest_metrics (share_id, org_id, campaign_id, network, taken_at, reshares,
                                likes, replies, impressions, followers)
    VALUES (:share_id, :org_id, :campaign_id, :network, :taken_at, :reshares, :likes,
            :replies, :impressions, :followers)
    ON CONFLICT (share_id) DO UPDATE SET taken_at = excluded.taken_at,
        reshares = excluded.reshares, likes = excluded.likes, replies = excluded.replies,
        impressions = excluded.impressions, followers = excluded.followers
    WHERE latest_metrics.taken_at <= excluded.taken_at
    """
)


async def store_samples(session: AsyncSession, samples: Sequence[dict[str, Any]]) -> None:
    """`samples`: rows of metric_samples, each with its `taken_at`."""
    if not samples:
        return
    await session.execute(_NEW_SAMPLES, list(samples))
    await session.execute(_LATEST, list(samples))
