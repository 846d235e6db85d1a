"""Transactional outbox: an event is a row written in the same transaction as the change it
announces; a relay publishes pending rows with confirms and only then marks them sent.

Several relays may run at once (one per service replica): each claims a batch with
`FOR UPDATE SKIP LOCKED`, so a row is published by one relay at a time. A relay that dies after
publishing and before committing leaves its rows pending: they are published again, which is
why every consumer is idempotent (at least once on the bus, exactly once in effect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from opentelemetry.trace import SpanKind
from sqlalchemy import delete, func, text

from chorus.common.bus import Bus, OutgoingMessage
from chorus.common.db import Database, Executor, driver_transaction
from chorus.common.messages import Message, must_route
from chorus.common.models import OutboxEvent
from chorus.common.telemetry import OUTBOX_RELAYED
from chorus.common.tracing import current_traceparent, span
from chorus.common.wakeup import Wakeup, asyncpg_dsn, wait_for_work

__all__ = ["OutboxRelay", "add_events"]

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "chorus_outbox"


async def add_events(
    session: Executor,
    messages: Sequence[Message],
    *,
    traceparents: Sequence[str | None] | None = None,
) -> None:
    """Stage `messages` in the caller's transaction; they leave only if it commits.

    Each carries the trace context of its own work: `traceparents`, one per message, where a
    batch holds the work of several (a publisher's outcomes), else the current span's.
    """
    if not messages:
        return
    if traceparents is None:
        traceparents = [current_traceparent()] * len(messages)
    # One statement over arrays, the payloads serialised by pydantic: the ORM's bulk insert
    # cost the publisher more CPU than the rest of recording an outcome.
    await session.execute(
        _ADD,
        {
            "keys": [m.routing_key() for m in messages],
            "types": [type(m).__name__ for m in messages],
            "payloads": [m.model_dump_json() for m in messages],
            "traces": list(traceparents),
        },
    )


_ADD = text(
    """
    INSERT INTO outbox (routing_key, message_type, payload, traceparent)
    SELECT k, t, CAST(p AS jsonb), tp
    FROM unnest(CAST(:keys AS text[]), CAST(:types AS text[]), CAST(:payloads AS text[]),
                CAST(:traces AS text[]))
         AS v(k, t, p, tp)
    """
)


# The payload as text: sent as stored, not decoded into objects and encoded again.
_PENDING = """
    SELECT id, routing_key, message_type, CAST(payload AS text) AS payload, traceparent
    FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1
    FOR UPDATE SKIP LOCKED
"""
_SENT = "UPDATE outbox SET sent_at = now() WHERE id = ANY($1::bigint[])"


class OutboxRelay:
    """`await OutboxRelay(db=db, bus=bus, database_url=url).run(stop)` until `stop` is set."""

    def __init__(
        self,
        *,
        db: Database,
        bus: Bus,
        database_url: str,
        # Rows a round publishes at most: a row of published shares can weigh 200 KB.
        batch_size: int = 100,
        poll_seconds: float = 1.0,
        keep_sent: timedelta = timedelta(hours=1),
    ) -> None:
        self._db = db
        self._bus = bus
        self._dsn = asyncpg_dsn(database_url)
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._keep_sent = keep_sent

    async def relay_once(self) -> int:
        """Publish one batch of pending events; returns how many were sent."""
        # On the driver's own connection: a round through the ORM session cost the gateway
        # about 5 ms of CPU in the fan-out bench (its whole share of it), through SQLAlchemy's
        # statements still half of that, and every relay has a round per transaction that
        # writes events, and one more that finds nothing.
        async with driver_transaction(self._db.engine) as connection:
            rows = await connection.fetch(_PENDING, self._batch_size)
            if not rows:
                return 0
            await self._bus.send(
                OutgoingMessage(
                    routing_key=row["routing_key"],
                    message_type=row["message_type"],
                    body=row["payload"].encode(),
                    message_id=f"outbox-{row['id']}",
                    mandatory=must_route(row["message_type"]),
                    traceparent=_relayed(row["traceparent"], row["routing_key"]),
                )
                for row in rows
            )
            await connection.execute(_SENT, [row["id"] for row in rows])
        OUTBOX_RELAYED.inc(len(rows))
        return len(rows)

    async def prune(self) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(
                delete(OutboxEvent).where(OutboxEvent.sent_at < func.now() - self._keep_sent)
            )

    async def run(self, stop: asyncio.Event) -> None:
        async with Wakeup(self._dsn, OUTBOX_CHANNEL) as wakeup:
            rounds = 0
            while not stop.is_set():
                try:
                    sent = await self.relay_once()
                    rounds += 1
                    if rounds % 600 == 0:
                        await self.prune()
                except Exception:
                    # Broker or database away: the rows stay pending and are retried.
                    log.exception("outbox relay round failed; retrying")
                    sent = 0
                    await _sleep_or_stop(stop, 1.0)
                if sent < self._batch_size:
                    await wait_for_work(stop, wakeup, self._poll_seconds)
        # Events written by work that finished during shutdown leave now, not at next start.
        try:
            while await self.relay_once():
                pass
        except Exception:
            log.warning("final outbox drain incomplete; another relay will send the rest")


def _relayed(traceparent: str | None, routing_key: str) -> str | None:
    """The relay's span in the event's trace (untraced events stay untraced, and cost nothing);
    the message carries the relay's span, so the consumer's hangs below it."""
    if traceparent is None:
        return None
    with span(
        f"{routing_key} publish",
        parent=traceparent,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "rabbitmq", "messaging.destination.name": routing_key},
    ):
        return current_traceparent()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
