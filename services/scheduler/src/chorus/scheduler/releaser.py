"""Releasing due shares to `share.requested.<network>`.

The shares table is its own outbox: a batch of due rows is locked (`SKIP LOCKED`, so several
scheduler replicas split the work), published with confirms, then marked queued in the same
transaction. A crash between publish and commit leaves them planned, so they are published
again: duplicates on the bus are absorbed by the publisher, a lost share is impossible.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from chorus.common.bus import Bus, OutgoingMessage
from chorus.common.db import Database
from chorus.common.messages import ShareRequested
from chorus.common.networks import PUBLISHABLE, Network
from chorus.common.telemetry import SHARES_RELEASED
from chorus.common.topology import publisher_queue
from chorus.common.wakeup import Wakeup, asyncpg_dsn, wait_for_work

__all__ = ["Releaser"]

log = logging.getLogger(__name__)

SHARES_CHANNEL = "chorus_shares"

_DUE = text(
    """
    SELECT id, org_id, network FROM shares
    WHERE status = 'planned' AND planned_at <= now()
    ORDER BY planned_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)
_MARK = text(
    """
    UPDATE shares SET status = 'queued', released_at = now(), updated_at = now()
    WHERE id = ANY(:ids)
    """
)
# With the default stale age of 15 minutes: a queued share is released again after 3 hours in
# a backlog at most, one extra message (absorbed by the publisher's claim) per 3 hours.
BACKLOG_PATIENCE = 12
_NEXT = text("SELECT min(planned_at) FROM shares WHERE status = 'planned'")
# A share stays `queued` while its message waits in a backlog, and that is not stale: planning
# it again would add a message per sweep for as long as the backlog lasts. So a `queued` share
# is taken again only when its network's queue has drained and it still has no outcome (its
# message was dead-lettered, e.g. after an outage outlasting the delivery limit), or, so that a
# queue that never quite empties cannot keep a share waiting for ever, once it has waited
# BACKLOG_PATIENCE times the stale age. A `publishing` share is stale once its attempt has had
# far longer than any network call takes.
_STALE = text(
    """
    UPDATE shares SET status = 'planned', planned_at = now(), updated_at = now()
    WHERE id IN (
        SELECT id FROM shares
        WHERE updated_at < now() - CAST(:age AS interval)
          AND (status = 'publishing'
               OR (status = 'queued' AND (network = ANY(:drained)
                                          OR updated_at < now() - CAST(:patience AS interval))))
        LIMIT 10000 FOR UPDATE SKIP LOCKED
    )
    """
)


class Releaser:
    def __init__(
        self,
        *,
        db: Database,
        bus: Bus,
        database_url: str,
        batch_size: int,
        poll_seconds: float,
        stale_after: timedelta,
    ) -> None:
        self._db = db
        self._bus = bus
        self._dsn = asyncpg_dsn(database_url)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._stale_after = stale_after

    async def release_once(self) -> int:
        """Release one batch of due shares; returns how many."""
        async with self._db.sessions.begin() as session:
            rows = (await session.execute(_DUE, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            await self._bus.send(
                OutgoingMessage.of(
                    ShareRequested(share_id=r.id, org_id=r.org_id, network=Network(r.network)),
                    message_id=f"share-{r.id}",
                )
                for r in rows
            )
            await session.execute(_MARK, {"ids": [r.id for r in rows]})
        for r in rows:
            SHARES_RELEASED.labels(r.network).inc()
        return len(rows)

    async def requeue_stale(self) -> int:
        """Plan again the shares whose release or attempt never came to an outcome."""
        drained = [
            network.value
            for network in sorted(PUBLISHABLE)
            if await self._bus.waiting(publisher_queue(network).name) == 0
        ]
        async with self._db.sessions.begin() as session:
            result = await session.execute(
                _STALE,
                {
                    "age": self._stale_after,
                    "drained": drained,
                    "patience": self._stale_after * BACKLOG_PATIENCE,
                },
            )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if count:
            log.warning("%d stale shares planned again", count)
        return count

    async def _seconds_to_next(self) -> float:
        async with self._db.sessions() as session:
            nxt: datetime | None = await session.scalar(_NEXT)
        if nxt is None:
            return self._poll_seconds
        return max(0.0, min(self._poll_seconds, (nxt - datetime.now(UTC)).total_seconds()))

    async def run(self, stop: asyncio.Event) -> None:
        async with Wakeup(self._dsn, SHARES_CHANNEL) as wakeup:
            rounds = 0
            while not stop.is_set():
                released = 0
                try:
                    released = await self.release_once()
                    rounds += 1
                    if rounds % 300 == 1:
                        await self.requeue_stale()
                    if released < self._batch_size:
                        wait = await self._seconds_to_next()
                        await wait_for_work(stop, wakeup, wait)
                except Exception:
                    log.exception("release round failed; retrying")
                    await wait_for_work(stop, wakeup, 1.0)
