"""Events the CMS subscribed to become webhook deliveries: one row per matching active
endpoint, keyed by the event's id, so a redelivered bus message adds nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import RootModel
from sqlalchemy import text

from chorus.common.db import Database
from chorus.common.messages import (
    AccountNeedsReauth,
    CampaignCancelled,
    CampaignCompleted,
    ConsentWithdrawn,
    ShareFailed,
)

__all__ = ["WebhookEvent", "WebhookEvents"]


class WebhookEvent(
    RootModel[
        CampaignCompleted | CampaignCancelled | ShareFailed | AccountNeedsReauth | ConsentWithdrawn
    ]
):
    """Any event of `scheduler.webhooks`. Each model forbids unknown fields and their fields
    differ, so a body validates as exactly one of them."""


_FAN_OUT = text(
    """
    INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, event_type, payload)
    SELECT e.org_id, e.id, :event_id, CAST(:event_type AS varchar), CAST(:payload AS jsonb)
    FROM webhook_endpoints e
    WHERE e.org_id = :org_id AND e.active AND e.disabled_at IS NULL
      AND CAST(:event_type AS varchar) = ANY(e.events)
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    """
)


@dataclass(frozen=True)
class WebhookEvents:
    db: Database

    async def event(self, wrapped: WebhookEvent) -> None:
        """One statement: cancelled half-way it changed nothing, and the redelivery does it."""
        event = wrapped.root
        data = json.loads(event.model_dump_json(exclude={"event_id"}))
        async with self.db.sessions.begin() as session:
            await session.execute(
                _FAN_OUT,
                {
                    "event_id": event.event_id,
                    "event_type": event.routing_key(),
                    "payload": json.dumps(data),
                    "org_id": event.org_id,
                },
            )
