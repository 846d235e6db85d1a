"""On SharePublished, schedule the share's read-backs; the collector does the reading."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert

from chorus.common.batching import Batcher
from chorus.common.db import Database
from chorus.common.messages import SharePublished
from chorus.common.models import MetricReadback

__all__ = ["MetricsHandlers"]


class MetricsHandlers:
    def __init__(
        self, *, db: Database, readback_after: tuple[int, ...], poke: Callable[[], None]
    ) -> None:
        self.db = db
        self.readback_after = readback_after
        # Wakes the collector for the read-back due now.
        self.poke = poke
        self._schedule: Batcher[SharePublished, None] = Batcher(flush=self._schedule_many)

    async def share_published(self, event: SharePublished) -> None:
        await self._schedule.submit(event)
        self.poke()

    async def _schedule_many(self, events: Sequence[SharePublished]) -> list[None]:
        async with self.db.sessions.begin() as session:
            # Idempotent: a redelivered event finds its read-backs already scheduled.
            await session.execute(
                insert(MetricReadback)
                .values(
                    [
                        {
                            "org_id": event.org_id,
                            "share_id": event.share_id,
                            "due_at": event.published_at + timedelta(seconds=after),
                        }
                        for event in events
                        for after in self.readback_after
                    ]
                )
                .on_conflict_do_nothing(index_elements=["share_id", "due_at"])
            )
        return [None] * len(events)
