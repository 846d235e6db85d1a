"""Prometheus gauges, refreshed on a timer: reach per organisation and network from the
samples; the depth and consumers of every queue from the broker; the age of the oldest share
waiting in each publisher queue and the accounts whose authorisation runs out soon, from the
database; the colleague programme (colleagues by status, accounts by network, status and
consent mode), counted whole from the database (one row per colleague or account: tens of
milliseconds at 100,000). The alert rules in deploy/prometheus/alerts.yml and the dashboards in
deploy/grafana are written on these."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import text

from chorus.common.bus import Bus
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.models import AMBASSADOR_STATUSES
from chorus.common.telemetry import (
    ACCOUNTS,
    ACCOUNTS_EXPIRING,
    COLLEAGUES,
    OLDEST_QUEUED_SECONDS,
    QUEUE_CONSUMERS,
    QUEUE_MESSAGES,
    REACH_GAUGE,
)
from chorus.common.topology import DEAD_LETTER_QUEUE, all_queues, publisher_queue

__all__ = [
    "refresh_account_gauges",
    "refresh_programme_gauges",
    "refresh_queue_gauges",
    "refresh_reach_gauges",
    "refresh_waiting_gauges",
    "run_gauges",
]

# How far ahead an expiring authorisation is announced: a week to reach the colleague.
EXPIRING_WITHIN = timedelta(days=7)

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
        state = await bus.queue_state(name)
        QUEUE_MESSAGES.labels(name).set(state.messages)
        QUEUE_CONSUMERS.labels(name).set(state.consumers)


# A queued share has had its message published and no publisher has claimed it yet.
_OLDEST_QUEUED = text(
    """
    SELECT network, EXTRACT(EPOCH FROM now() - min(released_at)) AS age
    FROM shares WHERE status = 'queued' AND released_at IS NOT NULL
    GROUP BY network
    """
)


async def refresh_waiting_gauges(db: Database) -> None:
    async with db.sessions() as session:
        ages = {row.network: float(row.age) for row in await session.execute(_OLDEST_QUEUED)}
    for network in Network:
        OLDEST_QUEUED_SECONDS.labels(publisher_queue(network).name).set(
            max(0.0, ages.get(network.value, 0.0))
        )


_EXPIRING = text(
    """
    SELECT network, count(*) AS n FROM accounts
    WHERE status = 'connected' AND authorized_until IS NOT NULL
      AND authorized_until < now() + CAST(:within AS interval)
    GROUP BY network
    """
)


async def refresh_account_gauges(db: Database) -> None:
    async with db.sessions() as session:
        counts = {
            row.network: int(row.n)
            for row in await session.execute(_EXPIRING, {"within": EXPIRING_WITHIN})
        }
    for network in Network:
        ACCOUNTS_EXPIRING.labels(network.value, "7d").set(counts.get(network.value, 0))


# The accounts table's own check constraints: every pair is set, 0 included, so a panel shows
# "none needs re-connection" rather than no data.
ACCOUNT_STATUSES = ("connected", "needs_reauth", "revoked")
ACCOUNT_MODES = ("auto", "review")

_COLLEAGUES = text("SELECT status, count(*) AS n FROM ambassadors GROUP BY status")
_ACCOUNTS = text("SELECT network, status, mode, count(*) AS n FROM accounts GROUP BY 1, 2, 3")


async def refresh_programme_gauges(db: Database) -> None:
    async with db.sessions() as session:
        colleagues = {row.status: int(row.n) for row in await session.execute(_COLLEAGUES)}
        accounts = {
            (row.network, row.status, row.mode): int(row.n)
            for row in await session.execute(_ACCOUNTS)
        }
    for status in AMBASSADOR_STATUSES:
        COLLEAGUES.labels(status).set(colleagues.get(status, 0))
    for network in Network:
        for status in ACCOUNT_STATUSES:
            for mode in ACCOUNT_MODES:
                ACCOUNTS.labels(network.value, status, mode).set(
                    accounts.get((network.value, status, mode), 0)
                )


async def run_gauges(db: Database, bus: Bus, *, every: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        for refresh in (
            refresh_reach_gauges(db),
            refresh_queue_gauges(bus),
            refresh_waiting_gauges(db),
            refresh_account_gauges(db),
            refresh_programme_gauges(db),
        ):
            try:
                await refresh
            except Exception:
                log.exception("refreshing gauges failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
