"""The scheduler's message handlers: plain typed functions, settled by chorus.common.bus."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from chorus.common.db import Database
from chorus.common.messages import CampaignCreated
from chorus.common.shares import StagingRules, stage_campaign

__all__ = ["SchedulerHandlers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerHandlers:
    db: Database
    rules: StagingRules = field(default_factory=StagingRules)

    async def campaign_created(self, event: CampaignCreated) -> None:
        # One transaction: a crash mid-way stages nothing, and the redelivery stages it all.
        async with self.db.sessions.begin() as session:
            staged = await stage_campaign(
                session=session,
                campaign_id=event.campaign_id,
                org_id=event.org_id,
                rules=self.rules,
            )
        if staged is None:
            log.info("campaign %s already staged or unknown; nothing to do", event.campaign_id)
        else:
            log.info("campaign %s: %d shares staged", event.campaign_id, staged)
