"""On SharePublished, schedule the share's read-backs; the collector does the reading."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.dialects.postgresql import insert

from chorus.common.db import Database
from chorus.common.messages import SharePublished
from chorus.common.models import MetricReadback

__all__ = ["MetricsHandlers"]


@dataclass(frozen=True)
class MetricsHandlers:
    db: Database
    readback_after: tuple[int, ...]
    # Wakes the collector for the read-back due now.
    poke: Callable[[], None]

    async def share_published(self, event: SharePublished) -> None:
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
                        for after in self.readback_after
                    ]
                )
                .on_conflict_do_nothing(index_elements=["share_id", "due_at"])
            )
        self.poke()
