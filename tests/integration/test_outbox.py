"""The transactional outbox on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest
from sqlalchemy import func, select, text

from chorus.common.bus import Bus
from chorus.common.db import Database, open_database
from chorus.common.messages import CampaignCreated, Message
from chorus.common.models import OutboxEvent
from chorus.common.outbox import OutboxRelay, add_events
from chorus.common.settings import DatabaseSettings
from chorus.common.topology import SCHEDULER_CAMPAIGNS
from tests.conftest import Servers
from tests.integration.helpers import eventually, queue_depth

pytestmark = pytest.mark.integration


class Announced(Message):
    """An announcement no queue may take (every real event has its queue now)."""

    ROUTING_KEY = "tests.announced"
    MUST_ROUTE = False

    id: uuid.UUID


async def _pending(db: Database) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.sent_at.is_(None))
        )
    return int(count or 0)


async def test_rolled_back_events_never_leave(clean_db: Database, bus: Bus) -> None:
    event = CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())
    with pytest.raises(RuntimeError, match="the change failed"):
        await _write_then_fail(clean_db, event)
    relay = OutboxRelay(db=clean_db, bus=bus, database_url="unused")
    assert await relay.relay_once() == 0
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 0


async def test_committed_events_are_published_then_marked_sent(
    clean_db: Database, bus: Bus
) -> None:
    events = [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4()) for _ in range(5)]
    async with clean_db.sessions.begin() as session:
        await add_events(session, events)
    relay = OutboxRelay(db=clean_db, bus=bus, database_url="unused")
    assert await relay.relay_once() == 5
    assert await _pending(clean_db) == 0
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 5


async def test_an_announcement_without_listeners_does_not_hold_up_the_outbox(
    clean_db: Database, bus: Bus
) -> None:
    failed = Announced(id=uuid.uuid4())
    created = CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())
    async with clean_db.sessions.begin() as session:
        await add_events(session, [failed, created])
    relay = OutboxRelay(db=clean_db, bus=bus, database_url="unused")
    assert await relay.relay_once() == 2
    assert await _pending(clean_db) == 0
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 1


async def test_concurrent_relays_send_each_event_once(
    clean_db: Database, bus: Bus, servers: Servers
) -> None:
    count = 600
    async with clean_db.sessions.begin() as session:
        await add_events(
            session,
            [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4()) for _ in range(count)],
        )
    stop = asyncio.Event()
    relays = [
        OutboxRelay(db=clean_db, bus=bus, database_url=servers.database_url, batch_size=50)
        for _ in range(3)
    ]
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    await eventually(lambda: _pending(clean_db), until=lambda n: n == 0)
    stop.set()
    await asyncio.gather(*tasks)
    channel = await bus.channel(prefetch=1000)
    queue = await channel.get_queue(SCHEDULER_CAMPAIGNS.name)
    ids: list[str] = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        assert isinstance(message, aio_pika.abc.AbstractIncomingMessage)
        ids.append(CampaignCreated.model_validate_json(message.body).campaign_id.hex)
    await channel.close()
    assert len(ids) == count and len(set(ids)) == count


async def _write_then_fail(db: Database, event: CampaignCreated) -> None:
    async with db.sessions.begin() as session:
        await add_events(session, [event])
        raise RuntimeError("the change failed")


async def _one_connection(servers: Servers) -> Database:
    # One pooled connection and no ping on checkout, as a worker runs: whatever the relay
    # leaves in the pool, the next caller gets.
    return open_database(
        DatabaseSettings(
            database_url=servers.database_url, database_pool_size=1, database_max_overflow=0
        ),
        application_name="relay-under-test",
    )


class Unrouted(Message):
    """An event that must reach a queue, sent where no queue is bound: the broker returns it."""

    ROUTING_KEY = "tests.unrouted"

    id: uuid.UUID


async def test_a_round_that_cannot_publish_leaves_its_events_and_a_sound_pool(
    clean_db: Database, bus: Bus, servers: Servers
) -> None:
    async with clean_db.sessions.begin() as session:
        await add_events(session, [Unrouted(id=uuid.uuid4())])
    db = await _one_connection(servers)
    relay = OutboxRelay(db=db, bus=bus, database_url="unused")
    try:
        with pytest.raises(Exception, match=r"tests\.unrouted"):
            await relay.relay_once()
        assert await _pending(clean_db) == 1
        # The one connection went back clean: no transaction left open, no row left locked.
        async with db.engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM outbox WHERE routing_key = 'tests.unrouted'")
            )
        async with clean_db.sessions.begin() as session:
            await add_events(
                session, [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())]
            )
        assert await relay.relay_once() == 1
    finally:
        await db.close()
    assert await _pending(clean_db) == 0
    assert await queue_depth(bus, SCHEDULER_CAMPAIGNS.name) == 1


async def test_a_round_whose_connection_died_is_followed_by_one_that_works(
    clean_db: Database, bus: Bus, servers: Servers
) -> None:
    db = await _one_connection(servers)
    relay = OutboxRelay(db=db, bus=bus, database_url="unused")
    try:
        assert await relay.relay_once() == 0  # the pool now holds a connection
        async with clean_db.sessions.begin() as session:
            await add_events(
                session, [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())]
            )
            # The database restarted under the idle worker, as far as its connection knows.
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'relay-under-test'"
                )
            )
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the dead connection raises
            await relay.relay_once()
        # The dead connection was dropped, not handed back: the next round connects anew.
        assert await relay.relay_once() == 1
    finally:
        await db.close()
    assert await _pending(clean_db) == 0
