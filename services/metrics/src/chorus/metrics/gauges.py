"""Prometheus gauges of reach per organisation and network, refreshed from the samples."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text

from chorus.common.db import Database
from chorus.common.telemetry import REACH_GAUGE

__all__ = ["refresh_reach_gauges", "run_gauges"]

log = logging.getLogger(__name__)

KINDS = ("followers", "reshares", "likes", "replies", "impressions")

_TOTALS = text(
    """
    SELECT org_id, network,
           sum(followers) AS followers, sum(reshares) AS reshares, sum(likes) AS likes,
           sum(replies) AS replies, sum(impressions) AS impressions
    FROM (
        SELECT DISTINCT ON (share_id) org_id, network, followers, reshares, likes, replies,
               impressions
        FROM metric_samples ORDER BY share_id, taken_at DESC
    ) latest
    GROUP BY org_id, network
    """
)


async def refresh_reach_gauges(db: Database) -> None:
    async with db.sessions() as session:
        rows = (await session.execute(_TOTALS)).all()
    REACH_GAUGE.clear()
    for row in rows:
        for kind in KINDS:
            value = getattr(row, kind)
            if value is not None:  # Not reported by the network: no series, not a zero.
                REACH_GAUGE.labels(str(row.org_id), row.network, kind).set(float(value))


async def run_gauges(db: Database, *, every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await refresh_reach_gauges(db)
        except Exception:
            log.exception("refreshing reach gauges failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
