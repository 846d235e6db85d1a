"""The baseline: a bare aio-pika publish and consume of N persistent messages with publisher
confirms, through the same broker and the same kind of queue (quorum) as Chorus uses."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika

__all__ = ["bare_publish_consume"]

_BODY = '{"share_id":"%s","org_id":"9b2f4a52-4c84-4d0f-8c43-0b4f6f3c4b1e","network":"mastodon"}'


async def bare_publish_consume(amqp_url: str, *, count: int, window: int = 1000) -> float:
    """Seconds from the first publish to the last consumed ack."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        name = f"bench.baseline.{uuid.uuid4().hex[:8]}"
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        consume_channel = await connection.channel()
        await consume_channel.set_qos(prefetch_count=200)
        consume_queue = await consume_channel.get_queue(name)
        received = 0
        done = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received == count:
                done.set()

        tag = await consume_queue.consume(on_message)
        started = time.perf_counter()
        for offset in range(0, count, window):
            await asyncio.gather(
                *(
                    channel.default_exchange.publish(
                        aio_pika.Message(
                            (_BODY % uuid.uuid4()).encode(),
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                            content_type="application/json",
                        ),
                        routing_key=name,
                    )
                    for _ in range(min(window, count - offset))
                )
            )
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - started
        await consume_queue.cancel(tag)
        await queue.delete(if_unused=False, if_empty=False)
        return elapsed
