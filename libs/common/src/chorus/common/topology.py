"""Where messages go: the exchanges and the queues each service consumes, named once.

Queues are `<service>.<purpose>`, quorum queues with a delivery limit and a dead-letter
exchange set when first declared. Their arguments are never changed in place: RabbitMQ refuses
a redeclaration with other arguments, so a change means a new queue name.
"""

from __future__ import annotations

from dataclasses import dataclass

from chorus.common.kinds import Network
from chorus.common.messages import (
    AccountNeedsReauth,
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    ConsentWithdrawn,
    ShareFailed,
    SharePublished,
    share_requested_key,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE",
    "DEAD_LETTER_QUEUE",
    "METRICS_SHARES",
    "SCHEDULER_CAMPAIGNS",
    "SCHEDULER_WEBHOOKS",
    "WEBHOOK_EVENTS",
    "QueueSpec",
    "all_queues",
    "publisher_queue",
]

DEAD_LETTER_EXCHANGE = "chorus.dead"
DEAD_LETTER_QUEUE = "chorus.dead-letter"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[str, ...]


SCHEDULER_CAMPAIGNS = QueueSpec("scheduler.campaigns", (CampaignCreated.ROUTING_KEY,))
# The events an organisation's CMS can subscribe to by webhook; one queue takes them all.
WEBHOOK_EVENTS = (
    CampaignCompleted,
    CampaignCancelled,
    ShareFailed,
    AccountNeedsReauth,
    ConsentWithdrawn,
)
SCHEDULER_WEBHOOKS = QueueSpec("scheduler.webhooks", tuple(e.ROUTING_KEY for e in WEBHOOK_EVENTS))
METRICS_SHARES = QueueSpec("metrics.shares", (SharePublished.ROUTING_KEY,))


def publisher_queue(network: Network) -> QueueSpec:
    """One queue per network, so each network's publishers scale on their own queue depth."""
    return QueueSpec(f"publisher.{network.value}", (share_requested_key(network),))


def all_queues() -> tuple[QueueSpec, ...]:
    """Every queue of the system. Each service declares them all at start, so no message is
    unroutable because its consumer has not started yet."""
    return (
        SCHEDULER_CAMPAIGNS,
        SCHEDULER_WEBHOOKS,
        METRICS_SHARES,
        *(publisher_queue(n) for n in Network),
    )
