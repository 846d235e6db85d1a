"""The scheduler's message handlers: plain typed functions, settled by chorus.common.bus."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from sqlalchemy import update

from chorus.common.db import Database
from chorus.common.messages import CampaignCreated
from chorus.common.models import Campaign
from chorus.common.shares import StagingRules, stage_campaign
from chorus.common.tracing import current_traceparent, span

__all__ = ["SchedulerHandlers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerHandlers:
    db: Database
    rules: StagingRules = field(default_factory=StagingRules)
    # Each staging holds two of the pool's connections (SchedulerSettings.stagings_at_once).
    stagings_at_once: int = 2
    _stagings: asyncio.Semaphore = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_stagings", asyncio.Semaphore(self.stagings_at_once))

    async def campaign_created(self, event: CampaignCreated) -> None:
        # One transaction: a crash mid-way stages nothing, and the redelivery stages it all.
        with span("stage campaign"):
            async with self._stagings, self.db.sessions.begin() as session:
                staged = await stage_campaign(
                    session=session,
                    campaign_id=event.campaign_id,
                    org_id=event.org_id,
                    rules=self.rules,
                )
                traceparent = current_traceparent()
                if staged is not None and traceparent is not None:
                    # Its shares are released later, by another loop: they continue this trace.
                    await session.execute(
                        update(Campaign)
                        .where(Campaign.id == event.campaign_id)
                        .values(traceparent=traceparent)
                    )
        if staged is None:
            log.info("campaign %s already staged or unknown; nothing to do", event.campaign_id)
        else:
            log.info("campaign %s: %d shares staged", event.campaign_id, staged)
