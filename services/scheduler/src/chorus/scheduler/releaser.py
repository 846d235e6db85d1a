"""Releasing due shares to `share.requested.<network>`, and taking back lost ones.

The shares table is its own outbox: a batch of due rows is locked (`SKIP LOCKED`, so several
scheduler replicas split the work), published with confirms, then marked queued in the same
transaction. A crash between publish and commit leaves them planned, so they are published
again: duplicates on the bus are absorbed by the publisher's claim, a lost share is impossible.

A batch goes out as few messages as it can: one `SharesRequested` per network, organisation and
campaign trace, of at most `shares_per_message` shares (1: one `ShareRequested` per share, the
form publishers of earlier releases read).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry.trace import SpanKind

from chorus.common.bus import Bus, OutgoingMessage
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.messages import MAX_SHARES_PER_MESSAGE, ShareRequested, SharesRequested
from chorus.common.retry import MAX_REPLANS
from chorus.common.shares import (
    NEXT_DUE,
    DueShare,
    due_shares,
    mark_released,
    replan_stale,
    skip_expired_consent,
    skip_unapproved,
)
from chorus.common.telemetry import SHARE_MESSAGES_RELEASED, SHARES_RELEASED
from chorus.common.topology import publisher_queue
from chorus.common.tracing import current_traceparent, span
from chorus.common.wakeup import Wakeup, asyncpg_dsn, wait_for_work

__all__ = ["Releaser"]

log = logging.getLogger(__name__)

SHARES_CHANNEL = "chorus_shares"


def _released(shares: Sequence[DueShare]) -> str | None:
    """The release's span, a child of its campaign's staging (a message's shares share one
    campaign trace): a share's way to the network stays in the trace of the POST that asked for
    it. Untraced campaigns cost nothing."""
    first = shares[0]
    if first.traceparent is None:
        return None
    with span(
        "release shares",
        parent=first.traceparent,
        kind=SpanKind.PRODUCER,
        attributes={"chorus.network": first.network.value, "chorus.shares": len(shares)},
    ):
        return current_traceparent()


def _messages(
    due: Sequence[DueShare], per_message: int
) -> Iterator[tuple[Network, OutgoingMessage]]:
    if per_message == 1:
        for d in due:
            single = ShareRequested(share_id=d.share_id, org_id=d.org_id, network=d.network)
            message_id = f"share-{d.share_id}"
            yield (
                d.network,
                OutgoingMessage.of(single, message_id=message_id, traceparent=_released([d])),
            )
        return
    groups: dict[tuple[Network, uuid.UUID, str | None], list[DueShare]] = {}
    for d in due:
        groups.setdefault((d.network, d.org_id, d.traceparent), []).append(d)
    for (network, org_id, _), shares in groups.items():
        for start in range(0, len(shares), per_message):
            chunk = shares[start : start + per_message]
            ids = [d.share_id for d in chunk]
            message = SharesRequested(share_ids=ids, org_id=org_id, network=network)
            yield (
                network,
                OutgoingMessage.of(
                    message, message_id=f"shares-{ids[0]}", traceparent=_released(chunk)
                ),
            )


class Releaser:
    def __init__(
        self,
        *,
        db: Database,
        bus: Bus,
        database_url: str,
        batch_size: int,
        shares_per_message: int,
        poll_seconds: float,
        sweep_seconds: float,
        queued_after: timedelta,
        queued_patience: timedelta,
    ) -> None:
        self._db = db
        self._bus = bus
        self._dsn = asyncpg_dsn(database_url)
        self._batch_size = batch_size
        if not 1 <= shares_per_message <= MAX_SHARES_PER_MESSAGE:
            raise ValueError(f"shares_per_message must be within 1 and {MAX_SHARES_PER_MESSAGE}")
        self._per_message = shares_per_message
        self._poll_seconds = poll_seconds
        self._sweep_seconds = sweep_seconds
        self._queued_after = queued_after
        self._queued_patience = queued_patience

    async def release_once(self) -> int:
        """Release one batch of due shares; returns how many."""
        async with self._db.sessions.begin() as session:
            # At release, not at staging: consent may run out while a share waits.
            await skip_expired_consent(session=session, limit=self._batch_size)
            due = await due_shares(session=session, limit=self._batch_size)
            if not due:
                return 0
            messages = list(_messages(due, self._per_message))
            await self._bus.send(m for _, m in messages)
            await mark_released(session=session, share_ids=[d.share_id for d in due])
        for d in due:
            SHARES_RELEASED.labels(d.network.value).inc()
        for network, _ in messages:
            SHARE_MESSAGES_RELEASED.labels(network.value).inc()
        return len(due)

    async def sweep_once(self) -> tuple[int, int]:
        """Plan again the shares whose attempt or message was lost; (planned, given up). Shares
        not approved by their planned time are skipped here too."""
        drained = [n for n in Network if await self._bus.waiting(publisher_queue(n).name) == 0]
        async with self._db.sessions.begin() as session:
            unapproved = await skip_unapproved(session=session)
            if unapproved:
                log.info("%d shares not approved in time: skipped", unapproved)
            planned, given_up = await replan_stale(
                session=session,
                drained=drained,
                queued_age=self._queued_after,
                patience=self._queued_patience,
                max_replans=MAX_REPLANS,
            )
        if planned or given_up:
            log.warning("lost shares: %d planned again, %d given up", planned, given_up)
        return planned, given_up

    async def _seconds_to_next(self) -> float:
        async with self._db.sessions() as session:
            nxt: datetime | None = await session.scalar(NEXT_DUE)
        if nxt is None:
            return self._poll_seconds
        return max(0.0, min(self._poll_seconds, (nxt - datetime.now(UTC)).total_seconds()))

    async def run(self, stop: asyncio.Event) -> None:
        async with Wakeup(self._dsn, SHARES_CHANNEL) as wakeup:
            next_sweep = time.monotonic()
            while not stop.is_set():
                try:
                    released = await self.release_once()
                    if time.monotonic() >= next_sweep:
                        await self.sweep_once()
                        next_sweep = time.monotonic() + self._sweep_seconds
                    if released < self._batch_size:
                        await wait_for_work(stop, wakeup, await self._seconds_to_next())
                except Exception:
                    log.exception("release round failed; retrying")
                    await wait_for_work(stop, wakeup, 1.0)
