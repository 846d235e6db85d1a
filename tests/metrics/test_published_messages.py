"""The metrics queue through the real broker: a message of many published shares stores each
share once, however often it comes, beside the one-share message of earlier releases; bodies
that do not fit are dead-lettered and change nothing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text

from chorus.common.bus import Bus, Consumer
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.messages import PublishedShares, SharePublished, SharesPublished
from chorus.common.topology import DEAD_LETTER_QUEUE, METRICS_SHARES
from chorus.metrics.handlers import MetricsHandlers
from tests.factories import Org
from tests.integration.helpers import eventually, publish_raw, queue_depth
from tests.metrics.readbacks import published

pytestmark = pytest.mark.integration

LATER = (3600, 86400)


async def _consume(
    bus: Bus, handler: Callable[[PublishedShares], Awaitable[None]]
) -> Consumer[PublishedShares]:
    consumer = Consumer(bus=bus, queue=METRICS_SHARES, model=PublishedShares, handler=handler)
    await consumer.start()
    return consumer


async def _rows(db: Database) -> tuple[int, int, int]:
    async with db.sessions() as session:
        counts = [
            (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in ("metric_samples", "latest_metrics", "metric_readbacks")
        ]
    return counts[0], counts[1], counts[2]


async def test_a_message_of_many_shares_stores_each_once_through_redeliveries(
    clean_db: Database, bus: Bus, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    events = await published(clean_db, org, keyring, sim_http, sim_net, 5)
    # One share came without counts: it is read at once besides.
    bare = events[4].model_copy(update={"observed": None})
    pokes: list[int] = []
    handlers = MetricsHandlers(
        db=clean_db, readback_after=LATER, poke=lambda: pokes.append(1), linger=0.01
    )
    handled: list[int] = []

    async def counted(message: PublishedShares) -> None:
        await handlers.published(message)
        handled.append(len(message.events()))

    many = SharesPublished(events=[*events[:3], bare])
    consumer = await _consume(bus, counted)
    try:
        await bus.publish(many)
        await bus.publish(many)  # the relay sent it again
        await bus.publish(events[3])  # the one-share message of an earlier release
        await bus.publish(events[3])
        await eventually(lambda: _len(handled), until=lambda n: n == 4)
    finally:
        await consumer.stop(grace=5)
    assert sorted(handled) == [1, 1, 4, 4]
    assert await queue_depth(bus, DEAD_LETTER_QUEUE) == 0
    # Four shares with counts: a sample and the later read-backs each; the bare one its
    # read-back at once and the later ones, no sample.
    assert await _rows(clean_db) == (4, 4, 4 * len(LATER) + 1 + len(LATER))
    assert pokes  # the collector was woken for the share read at once


async def _len(items: list[int]) -> int:
    return len(items)


async def test_bad_metrics_messages_are_dead_lettered_and_change_nothing(
    clean_db: Database, bus: Bus, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:  # fmt: skip
    [event] = await published(clean_db, org, keyring, sim_http, sim_net, 1)
    good = json.loads(event.model_dump_json())
    handlers = MetricsHandlers(db=clean_db, readback_after=LATER, poke=lambda: None)
    bodies = [
        {"events": []},  # no share
        {"events": [good] * 501},  # more than a message may carry
        {"events": [good, {**good, "remote_id": ""}]},  # one event broken: all refused
        {"events": [good, good]},  # one share twice
        {"events": [good], "extra": 1},  # a field the contract does not have
        {**good, "network": "myspace"},  # a one-share message that is not one
    ]
    consumer = await _consume(bus, handlers.published)
    try:
        for body in bodies:
            await publish_raw(
                bus, routing_key=SharePublished.ROUTING_KEY, body=json.dumps(body).encode()
            )
        await eventually(
            lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == len(bodies)
        )
    finally:
        await consumer.stop(grace=5)
    assert await _rows(clean_db) == (0, 0, 0)
