"""The one place that settles messages, on a real RabbitMQ."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import aio_pika
import pytest

from chorus.common.bus import Bus, Consumer, OutgoingMessage
from chorus.common.failures import MessageRejected, RetryLater
from chorus.common.messages import CampaignCreated
from chorus.common.settings import BusSettings
from chorus.common.topology import DEAD_LETTER_QUEUE, SCHEDULER_CAMPAIGNS
from tests.integration.helpers import eventually, publish_raw, queue_depth

pytestmark = pytest.mark.integration


def _event() -> CampaignCreated:
    return CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())


async def test_handled_messages_are_acked(bus: Bus) -> None:
    seen: list[CampaignCreated] = []
    consumer = Consumer(
        bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=_append(seen)
    )
    await consumer.start()
    events = [_event() for _ in range(20)]
    for event in events:
        await bus.publish(event)
    await eventually(lambda: _len(seen), until=lambda n: n == 20)
    await consumer.stop(grace=5)
    assert {e.campaign_id for e in seen} == {e.campaign_id for e in events}
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 0


async def test_malformed_message_is_dead_lettered_and_consumer_goes_on(bus: Bus) -> None:
    seen: list[CampaignCreated] = []
    consumer = Consumer(
        bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=_append(seen)
    )
    await consumer.start()
    await publish_raw(bus, routing_key="campaign.created", body=b"{not json")
    await publish_raw(bus, routing_key="campaign.created", body=b'{"campaign_id": "nope"}')
    good = _event()
    await bus.publish(good)
    await eventually(lambda: _len(seen), until=lambda n: n == 1)
    assert seen == [good]
    assert (
        await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 2) == 2
    )
    await consumer.stop(grace=5)


async def test_a_message_that_keeps_failing_stops_at_the_delivery_limit(bus: Bus) -> None:
    attempts: list[int] = []

    async def broken(_event: CampaignCreated) -> None:
        attempts.append(1)
        raise RuntimeError("dependency down")

    consumer = Consumer(bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=broken)
    await consumer.start()
    await bus.publish(_event())
    await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 1)
    await consumer.stop(grace=5)
    # delivery_limit=3 in the test settings: the first delivery plus three redeliveries.
    assert len(attempts) == 4


async def test_a_message_that_must_wait_comes_back_and_is_then_handled(bus: Bus) -> None:
    attempts: list[CampaignCreated] = []

    async def not_yet(event: CampaignCreated) -> None:
        attempts.append(event)
        if len(attempts) < 3:
            raise RetryLater("another attempt holds it")

    consumer = Consumer(bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=not_yet)
    await consumer.start()
    await bus.publish(_event())
    await eventually(lambda: _len(attempts), until=lambda n: n == 3)
    await consumer.stop(grace=5)
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 0
    assert await queue_depth(bus, DEAD_LETTER_QUEUE) == 0


async def test_rejected_message_is_dead_lettered_at_once(bus: Bus) -> None:
    calls: list[int] = []

    async def refuse(_event: CampaignCreated) -> None:
        calls.append(1)
        raise MessageRejected("never valid")

    consumer = Consumer(bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=refuse)
    await consumer.start()
    await bus.publish(_event())
    await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 1)
    await consumer.stop(grace=5)
    assert calls == [1]


async def test_stop_lets_in_flight_work_finish_and_returns_the_rest(bus: Bus) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[CampaignCreated] = []

    async def slow(event: CampaignCreated) -> None:
        started.set()
        await release.wait()
        finished.append(event)

    consumer = Consumer(
        bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=slow, prefetch=1
    )
    await consumer.start()
    for _ in range(3):
        await bus.publish(_event())
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(consumer.stop(grace=10))
    release.set()
    await stopping
    assert len(finished) == 1  # the one in flight completed; nothing new was taken
    # The broker counts a message handed back by the closed channel a moment later.
    await eventually(lambda: queue_depth(bus, SCHEDULER_CAMPAIGNS.name), until=lambda n: n == 2)


async def test_acks_of_one_tick_go_in_one_write_and_a_stop_right_after_keeps_them(
    bus: Bus,
) -> None:
    count = 100
    release = asyncio.Event()
    waiting: list[CampaignCreated] = []
    done: list[CampaignCreated] = []

    async def gated(event: CampaignCreated) -> None:
        waiting.append(event)
        await release.wait()
        done.append(event)

    consumer = Consumer(
        bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=gated, prefetch=count
    )
    await consumer.start()
    await bus.send(OutgoingMessage.of(_event()) for _ in range(count))
    await eventually(lambda: _len(waiting), until=lambda n: n == count)
    writes = bus.settlements.writes
    # All handlers finish in one tick and the stop starts in the same one: their acks are
    # still pending when it begins, and must reach the broker before it closes the channel.
    release.set()
    await consumer.stop(grace=5)
    assert len(done) == count
    assert bus.settlements.writes - writes <= 3  # one write per tick, not one per message
    # Anything not acked went back when the channel closed, ahead of a message sent now: a
    # new consumer sees only that one.
    last = _event()
    await bus.publish(last)
    assert await _received(bus, 1) == [last]
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 0


async def test_no_ack_before_the_handler_finished_so_a_lost_connection_gives_all_back(
    bus: Bus, bus_settings: BusSettings
) -> None:
    release = asyncio.Event()
    started: list[CampaignCreated] = []
    finished: list[CampaignCreated] = []

    async def held(event: CampaignCreated) -> None:
        started.append(event)
        await release.wait()
        finished.append(event)

    own = await Bus.connect(bus_settings, name="tests-lost")
    consumer = Consumer(bus=own, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=held)
    await consumer.start()
    events = [_event() for _ in range(5)]
    await bus.send(OutgoingMessage.of(e) for e in events)
    await eventually(lambda: _len(started), until=lambda n: n == 5)
    # The connection goes while the handlers are still working: nothing was acked, so the
    # broker has every message back.
    await own.close()
    name = SCHEDULER_CAMPAIGNS.name
    await eventually(lambda: queue_depth(bus, name), until=lambda n: n == 5)
    # Their handlers went with the channel (cancelled: nothing to settle), and a stop after
    # the loss still returns.
    await consumer.stop(grace=5)
    assert finished == []
    seen = await _received(bus, 5)
    assert len(seen) == 5
    assert {e.campaign_id for e in seen} == {e.campaign_id for e in events}


async def test_a_settlement_for_a_closed_channel_is_dropped_and_the_message_comes_back(
    bus: Bus,
) -> None:
    await bus.publish(_event())
    channel = await bus.channel(prefetch=1)
    queue = await channel.get_queue(SCHEDULER_CAMPAIGNS.name, ensure=False)
    message = await queue.get(timeout=5)
    await channel.close()
    writes = bus.settlements.writes
    # As after a lost connection: the handler's ack comes after its channel went.
    bus.settlements.ack(message)
    await bus.settlements.written()
    assert bus.settlements.writes == writes
    name = SCHEDULER_CAMPAIGNS.name
    await eventually(lambda: queue_depth(bus, name), until=lambda n: n == 1)


async def _received(bus: Bus, count: int) -> list[CampaignCreated]:
    """What a new consumer of the campaigns queue is handed, once it has at least `count`."""
    seen: list[CampaignCreated] = []
    consumer = Consumer(
        bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=_append(seen)
    )
    await consumer.start()
    await eventually(lambda: _len(seen), until=lambda n: n >= count)
    await consumer.stop(grace=5)
    return seen


def _append(into: list[CampaignCreated]):  # type: ignore[no-untyped-def]
    async def handler(event: CampaignCreated) -> None:
        into.append(event)

    return handler


async def _len(items: list[CampaignCreated]) -> int:
    return len(items)


async def test_a_message_no_queue_takes_is_refused_unless_it_is_only_an_announcement(
    bus: Bus,
) -> None:
    stray = OutgoingMessage(routing_key="nobody.listens", message_type="X", body=b"{}")
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await bus.send([stray])
    # An announcement nobody subscribes to yet is confirmed and dropped by the broker.
    await bus.send([dataclasses.replace(stray, mandatory=False)])


async def test_a_batch_goes_out_whole_in_order_and_a_stray_in_it_is_refused(bus: Bus) -> None:
    # One write carries the whole batch; each message keeps its own id, header and body, one
    # larger than a frame included, and its own confirmation.
    bodies = [b'{"n": %d}' % i for i in range(40)] + [b'"' + b"x" * 300_000 + b'"']
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    batch = [
        OutgoingMessage(
            routing_key=CampaignCreated.ROUTING_KEY,
            message_type="CampaignCreated",
            body=body,
            message_id=f"m-{i}",
            traceparent=traceparent if i == 0 else None,
        )
        for i, body in enumerate(bodies)
    ]
    await bus.send(batch)
    name = SCHEDULER_CAMPAIGNS.name
    await eventually(lambda: queue_depth(bus, name), until=lambda n: n == len(batch))
    channel = await bus.channel(prefetch=1)
    queue = await channel.get_queue(name, ensure=False)
    got = []
    for _ in batch:
        message = await queue.get(timeout=5)
        await message.ack()
        got.append(message)
    await channel.close()
    assert [m.body for m in got] == bodies
    assert [m.message_id for m in got] == [m.message_id for m in batch]
    assert [m.type for m in got] == ["CampaignCreated"] * len(batch)
    assert (got[0].headers or {}).get("traceparent") == traceparent
    assert "traceparent" not in (got[1].headers or {})
    # A mandatory message no queue takes fails the batch it is in (the outbox keeps it).
    stray = OutgoingMessage(routing_key="nobody.listens", message_type="X", body=b"{}")
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await bus.send([batch[0], stray, batch[1]])
