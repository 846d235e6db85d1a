"""Waiting on real servers: poll with a deadline, never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika

from chorus.common.bus import Bus

T = TypeVar("T")

# For stacks that are crashed under load: a short claim lease (and attempt deadlines under it),
# a frequent sweep and a quick eye for lost messages keep the wait after a crash short.
FAULT_ENV = {
    "CHORUS_NETWORK_DEADLINE_SECONDS": "2",
    "CHORUS_ATTEMPT_DEADLINE_SECONDS": "3",
    "CHORUS_CLAIM_LEASE_SECONDS": "8",
    "CHORUS_SWEEP_SECONDS": "1",
    "CHORUS_QUEUED_AFTER_SECONDS": "20",
}


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool],
    timeout: float = 20.0,
    interval: float = 0.05,
) -> T:
    """Call `probe` until its value satisfies `until`; fail with the last value on deadline."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not until(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)
        value = await probe()
    return value


async def queue_depth(bus: Bus, name: str) -> int:
    return await bus.waiting(name)


async def publish_raw(bus: Bus, *, routing_key: str, body: bytes) -> None:
    """Put bytes on the bus as a careless producer would, bypassing the typed contract."""
    channel = await bus.connection.channel()
    try:
        exchange = await channel.get_exchange(bus.settings.exchange)
        await exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=routing_key,
        )
    finally:
        await channel.close()
