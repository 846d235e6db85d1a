"""Queue depths on /metrics, the dead-letter queue included, read from the real broker."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from chorus.common.bus import Bus
from chorus.common.topology import DEAD_LETTER_QUEUE, SCHEDULER_CAMPAIGNS
from chorus.metrics.gauges import refresh_queue_gauges
from tests.integration.helpers import eventually, publish_raw, queue_depth

pytestmark = pytest.mark.integration


def _depth(queue: str) -> float | None:
    return REGISTRY.get_sample_value("chorus_queue_messages", {"queue": queue})


async def test_queue_gauges_show_waiting_and_dead_lettered_messages(bus: Bus) -> None:
    await publish_raw(bus, routing_key="campaign.created", body=b"{}")
    await publish_raw(bus, routing_key="campaign.created", body=b"{}")
    channel = await bus.channel(prefetch=1)
    queue = await channel.get_queue(SCHEDULER_CAMPAIGNS.name)
    message = await queue.get(fail=True)
    await message.reject(requeue=False)  # into the dead-letter queue
    await channel.close()
    await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 1)
    await refresh_queue_gauges(bus)
    assert _depth(SCHEDULER_CAMPAIGNS.name) == 1
    assert _depth(DEAD_LETTER_QUEUE) == 1
    assert _depth("publisher.mastodon") == 0
