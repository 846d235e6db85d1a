"""On shares published (a message of many, or of one): store what the network already reported
as the first sample, and schedule each share's later read-backs; the collector does the
reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import text

from chorus.common.batching import Batcher
from chorus.common.db import Database, is_outage
from chorus.common.messages import PublishedShares, SharePublished
from chorus.common.tracing import span
from chorus.metrics.samples import ARRAYS, COLUMNS, COUNTS, storing

__all__ = ["MetricsHandlers"]

# A batch of events is one statement: its samples (the events that came with counts) and its
# read-backs (a share without counts is also read at once, `after` 0), each ON CONFLICT DO
# NOTHING so a redelivered event writes nothing more. Compiled once per process.
_SCHEDULE = text(
    f"""
    WITH events AS (
        SELECT * FROM unnest({ARRAYS}, CAST(:observed AS boolean[]))
            WITH ORDINALITY AS e({", ".join(COLUMNS)}, observed, ord)
    ),
    samples AS (SELECT * FROM events WHERE observed),
    {storing("samples")}
    INSERT INTO metric_readbacks (org_id, share_id, due_at)
    SELECT e.org_id, e.share_id, e.taken_at + a.after * interval '1 second'
    FROM events e CROSS JOIN LATERAL unnest(
        CASE WHEN e.observed THEN CAST(:afters AS int[]) ELSE CAST(:afters_now AS int[]) END
    ) AS a(after)
    ON CONFLICT (share_id, due_at) DO NOTHING
    """
)


def _isolate(exc: Exception) -> bool:
    return not is_outage(exc)


class MetricsHandlers:
    def __init__(
        self,
        *,
        db: Database,
        readback_after: tuple[int, ...],
        poke: Callable[[], None],
        linger: float = 0.0,
        batch_size: int = 500,
    ) -> None:
        # Autocommit: the batch is one statement, atomic on its own, so BEGIN and COMMIT
        # would only add two round trips. Same pool; the option is reset when it goes back.
        self.engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.readback_after = readback_after
        # Wakes the collector for read-backs due now.
        self.poke = poke
        # A statement failing for one share's data (its row gone since) is run again share by
        # share, so the others of its messages are stored and only that one's goes back.
        self._schedule: Batcher[SharePublished, None] = Batcher(
            flush=self._schedule_many, linger=linger, max_size=batch_size, isolate=_isolate
        )

    async def published(self, message: PublishedShares) -> None:
        """A message of the metrics queue, in either form."""
        await self.shares_published(message.events())

    async def share_published(self, event: SharePublished) -> None:
        """One share: what the older message says (and the tests' shorthand)."""
        await self.shares_published([event])

    async def shares_published(self, events: Sequence[SharePublished]) -> None:
        # One publisher's batch: one network (a mix is named as such, never a list to filter on).
        networks = {e.network.value for e in events}
        network = networks.pop() if len(networks) == 1 else "mixed"
        attributes: dict[str, str | int | bool] = {
            "chorus.network": network,
            "chorus.shares": len(events),
        }
        with span("schedule readbacks", attributes=attributes):
            await self._schedule.submit_many(events)
        if any(e.observed is None for e in events):
            self.poke()

    def _arrays(self, events: Sequence[SharePublished]) -> dict[str, Any]:
        observed = [e.observed for e in events]
        return {
            "org_id": [e.org_id for e in events],
            "share_id": [e.share_id for e in events],
            "campaign_id": [e.campaign_id for e in events],
            "network": [e.network.value for e in events],
            "taken_at": [e.published_at for e in events],
            **{
                count: [None if o is None else getattr(o, count) for o in observed]
                for count in COUNTS
            },
            "observed": [o is not None for o in observed],
            "afters": list(self.readback_after),
            "afters_now": [0, *self.readback_after],
        }

    async def _schedule_many(self, events: Sequence[SharePublished]) -> list[None]:
        # A bare connection: statements only, and the ORM session's bookkeeping was about 6%
        # of this service's CPU in a profile of the fan-out bench.
        async with self.engine.connect() as connection:
            await connection.execute(_SCHEDULE, self._arrays(events))
        return [None] * len(events)
