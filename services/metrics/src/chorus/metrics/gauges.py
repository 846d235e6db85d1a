"""Prometheus gauges, refreshed on a timer: reach per organisation and network from the
samples, and the depth of every queue from the broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text

from chorus.common.bus import Bus
from chorus.common.db import Database
from chorus.common.telemetry import QUEUE_MESSAGES, REACH_GAUGE
from chorus.common.topology import DEAD_LETTER_QUEUE, all_queues

__all__ = ["refresh_queue_gauges", "refresh_reach_gauges", "run_gauges"]

log = logging.getLogger(__name__)

KINDS = ("followers", "reshares", "likes", "replies", "impressions")

_TOTALS = text(
    """
    SELECT org_id, network,
           sum(followers) AS followers, sum(reshares) AS reshares, sum(likes) AS likes,
           sum(replies) AS replies, sum(impressions) AS impressions
    FROM latest_metrics
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


async def refresh_queue_gauges(bus: Bus) -> None:
    for name in (*(q.name for q in all_queues()), DEAD_LETTER_QUEUE):
        QUEUE_MESSAGES.labels(name).set(await bus.waiting(name))


async def run_gauges(db: Database, bus: Bus, *, every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for refresh in (refresh_reach_gauges(db), refresh_queue_gauges(bus)):
            try:
                await refresh
            except Exception:
                log.exception("refreshing gauges failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
