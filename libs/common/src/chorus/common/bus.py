"""RabbitMQ through aio-pika: one durable topic exchange, publisher confirms, and the one place
that acks, retries and dead-letters, so handlers stay plain typed functions.

    bus = await Bus.connect(settings, name="scheduler")
    consumer = Consumer(bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated,
                        handler=on_campaign_created, prefetch=16)
    await consumer.start()
    ...
    await consumer.stop(grace=20)   # stop taking messages, let in-flight ones finish
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import ChannelFrame
from opentelemetry.trace import SpanKind
from pamqp import commands as amqp
from pamqp.body import ContentBody
from pamqp.header import ContentHeader
from pydantic import BaseModel, ValidationError

from chorus.common.acks import Settlements
from chorus.common.failures import MessageRejected, RetryLater
from chorus.common.messages import Message
from chorus.common.retry import redelivery_pause
from chorus.common.settings import BusSettings
from chorus.common.telemetry import BUS_MESSAGES
from chorus.common.topology import (
    DEAD_LETTER_EXCHANGE,
    DEAD_LETTER_QUEUE,
    QueueSpec,
    all_queues,
)
from chorus.common.tracing import TRACEPARENT, current_traceparent, span

__all__ = ["Bus", "Consumer", "OutgoingMessage"]

log = logging.getLogger(__name__)

# Any pydantic model: a message class, or a union of several on one queue (a RootModel).
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class OutgoingMessage:
    """A serialised message: what the outbox stores and the relay sends."""

    routing_key: str
    message_type: str
    body: bytes
    message_id: str | None = None
    mandatory: bool = True
    # W3C trace context, sent as the message's header: the consumer's span continues it.
    traceparent: str | None = None

    @classmethod
    def of(
        cls, message: Message, *, message_id: str | None = None, traceparent: str | None = None
    ) -> OutgoingMessage:
        return cls(
            routing_key=message.routing_key(),
            message_type=type(message).__name__,
            body=message.model_dump_json().encode(),
            message_id=message_id,
            mandatory=message.MUST_ROUTE,
            traceparent=traceparent,
        )


@dataclass(frozen=True, slots=True)
class QueueState:
    messages: int
    consumers: int


@dataclass
class Bus:
    settings: BusSettings
    connection: AbstractRobustConnection
    _channel: AbstractChannel
    _exchange: AbstractExchange
    # Every consumer on this connection settles through it: one write for a tick's acks.
    settlements: Settlements = field(default_factory=Settlements)

    @classmethod
    async def connect(cls, settings: BusSettings, *, name: str) -> Bus:
        connection = await aio_pika.connect_robust(
            settings.amqp_url, client_properties={"connection_name": name}
        )
        # A mandatory message no queue takes comes back from the broker; raising then is what
        # keeps it in its outbox instead of acknowledging it into nowhere.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await _declare_exchanges(channel, settings)
        bus = cls(settings=settings, connection=connection, _channel=channel, _exchange=exchange)
        await bus.declare(*all_queues())
        return bus

    async def declare(self, *queues: QueueSpec) -> None:
        """Declare queues (idempotent while their arguments are unchanged) and their bindings."""
        for spec in queues:
            await _declare_queue(self._channel, self.settings, spec)

    async def publish(self, message: Message) -> None:
        await self.send([OutgoingMessage.of(message, traceparent=current_traceparent())])

    async def send(self, messages: Iterable[OutgoingMessage]) -> None:
        """Publish persistent messages and return once the broker has confirmed every one.

        Raises if any is nacked, or is mandatory and no queue took it: the caller keeps it to
        retry.
        """
        batch = list(messages)
        if not batch:
            return
        channel = await self._channel.get_underlay_channel()
        confirmations: Sequence[Awaitable[Any]]
        if isinstance(channel, aiormq.Channel) and channel.publisher_confirms:
            confirmations = await _publish_together(channel, self.settings.exchange, batch)
        else:
            confirmations = [self._publish_one(m) for m in batch]
        await asyncio.gather(*confirmations)

    async def _publish_one(self, m: OutgoingMessage) -> None:
        await self._exchange.publish(
            aio_pika.Message(
                m.body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                type=m.message_type,
                message_id=m.message_id,
                headers={TRACEPARENT: m.traceparent} if m.traceparent else None,
            ),
            routing_key=m.routing_key,
            mandatory=m.mandatory,
        )

    async def waiting(self, queue: str) -> int:
        """Messages ready in the queue named `queue` (not those delivered and not yet acked)."""
        return (await self.queue_state(queue)).messages

    async def queue_state(self, queue: str) -> QueueState:
        """Messages ready in the queue named `queue`, and the consumers it has now."""
        channel = await self.connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
            result = declared.declaration_result
            return QueueState(
                messages=int(result.message_count or 0), consumers=int(result.consumer_count or 0)
            )
        finally:
            await channel.close()

    async def channel(self, *, prefetch: int) -> AbstractChannel:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        return channel

    async def close(self) -> None:
        await self.connection.close()


async def _publish_together(
    channel: aiormq.Channel, exchange: str, messages: Sequence[OutgoingMessage]
) -> list[asyncio.Future[Any]]:
    """Every message's frames in one write, each with its own confirmation (a future that
    fails on a nack, or on a return where the message is mandatory).

    aiormq writes each publish on its own, a send() per message: measured on the bench
    machine (a VM), that was three quarters of the client's CPU per message. Frames,
    delivery tags and confirmations are aiormq's own, as its basic_publish sets them, so its
    reader settles these futures exactly as it settles its own, and a closing channel fails
    them.
    """
    frames: list[Any] = []
    confirmations: list[asyncio.Future[Any]] = []
    async with channel.lock:
        first_tag = channel.delivery_tag
        try:
            for m in messages:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                confirmations.append(confirmation)
                # A return names its message by id: aiormq finds the confirmation to fail by it.
                message_id = m.message_id or uuid.uuid4().hex
                channel.message_id_delivery_tag[message_id] = tag
                confirmation.add_done_callback(_forget(channel, message_id, tag))
                frames += [
                    amqp.Basic.Publish(
                        exchange=exchange, routing_key=m.routing_key, mandatory=m.mandatory
                    ),
                    ContentHeader(
                        properties=amqp.Basic.Properties(
                            content_type="application/json",
                            delivery_mode=int(aio_pika.DeliveryMode.PERSISTENT),
                            message_type=m.message_type,
                            message_id=message_id,
                            headers={TRACEPARENT: m.traceparent} if m.traceparent else None,
                        ),
                        body_size=len(m.body),
                    ),
                    *_body_frames(m.body, channel.max_content_size),
                ]
            await channel.write_queue.put(
                ChannelFrame.marshall(frames=frames, channel_number=channel.number)
            )
        except BaseException:
            # Not queued for writing (cancelled while the queue was full): the broker never
            # sees these delivery tags, so they are free again, as aiormq frees its own.
            for tag in range(first_tag + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            channel.delivery_tag = first_tag
            for confirmation in confirmations:
                confirmation.cancel()
            raise
    return confirmations


def _forget(channel: aiormq.Channel, message_id: str, tag: int) -> Callable[[Any], None]:
    def forget(_: Any) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id)

    return forget


def _body_frames(body: bytes, size: int) -> list[ContentBody]:
    return [ContentBody(body[i : i + size]) for i in range(0, len(body), size)]


async def _declare_exchanges(channel: AbstractChannel, settings: BusSettings) -> AbstractExchange:
    dead = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_queue = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_queue.bind(dead)
    return await channel.declare_exchange(
        settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def _declare_queue(
    channel: AbstractChannel, settings: BusSettings, spec: QueueSpec
) -> AbstractQueue:
    queue = await channel.declare_queue(
        spec.name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            # RabbitMQ 3.10 sets no delivery limit on quorum queues: without one a poison
            # message would be redelivered forever.
            "x-delivery-limit": settings.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        },
    )
    for key in spec.bindings:
        await queue.bind(settings.exchange, routing_key=key)
    return queue


def _delivery_count(message: AbstractIncomingMessage) -> int:
    raw: Any = (message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


@dataclass
class Consumer(Generic[M]):
    """Feeds one queue to one typed handler and settles every message in one place:

    - body does not validate against `model`, or handler raises MessageRejected: dead-letter;
    - handler returns: ack;
    - handler raises anything else: requeue after a pause; the queue's delivery limit
      dead-letters a message that keeps failing, so it never loops forever;
    - cancelled (shutdown, lost connection): left unacked, so the broker redelivers it.
    """

    bus: Bus
    queue: QueueSpec
    model: type[M]
    handler: Callable[[M], Awaitable[None]]
    prefetch: int = 32
    _channel: AbstractChannel | None = None
    _queue: AbstractQueue | None = None
    _tag: str | None = None
    _inflight: set[asyncio.Task[Any]] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._channel = await self.bus.channel(prefetch=self.prefetch)
        # Declared on this very channel: a robust channel restores the consumers of the
        # queues it declared, and only those, when it reconnects after a broker restart.
        self._queue = await _declare_queue(self._channel, self.bus.settings, self.queue)
        self._tag = await self._queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._stopping.is_set():
            # Delivered before the broker saw our cancel: not ours to start. Left unacked, it
            # goes back to the queue when `stop` closes the channel.
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await self._settle(message)
        finally:
            self._inflight.discard(task)

    async def _settle(self, message: AbstractIncomingMessage) -> None:
        name = self.queue.name
        try:
            payload = self.model.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("dead-lettering malformed message on %s: %s", name, _short(exc))
            self.bus.settlements.reject(message, requeue=False)
            BUS_MESSAGES.labels(name, "dead_lettered").inc()
            return
        try:
            # The handler's span continues the trace the message's header names (if any).
            with span(
                f"{name} process",
                parent=message.headers,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.destination.name": name,
                    "messaging.message.type": message.type or "",
                },
            ):
                await self.handler(payload)
        except MessageRejected as exc:
            log.error("dead-lettering message on %s: %s", name, exc)
            self.bus.settlements.reject(message, requeue=False)
            BUS_MESSAGES.labels(name, "dead_lettered").inc()
        except RetryLater as exc:
            log.info("message on %s goes back for now: %s", name, exc)
            await self._requeue_after_pause(message)
        except Exception:
            log.exception("handler for %s failed; the message goes back to the queue", name)
            await self._requeue_after_pause(message)
        else:
            # Sent in the next tick with the others of this one; on a clean stop `stop` waits
            # for it before closing the channel.
            self.bus.settlements.ack(message)
            BUS_MESSAGES.labels(name, "acked").inc()

    async def _requeue_after_pause(self, message: AbstractIncomingMessage) -> None:
        # The pause ends early when we are stopping: the message goes back at once.
        with contextlib.suppress(TimeoutError):
            pause = redelivery_pause(_delivery_count(message))
            await asyncio.wait_for(self._stopping.wait(), pause)
        self.bus.settlements.nack(message, requeue=True)
        BUS_MESSAGES.labels(self.queue.name, "retried").inc()

    async def stop(self, *, grace: float) -> None:
        """Stop taking messages, give in-flight ones `grace` seconds, then hand the rest back.

        Takes at most `grace` plus a few seconds, whatever state the broker is in.
        """
        self._stopping.set()
        if self._queue is not None and self._tag is not None and not self._channel_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.cancel(self._tag), 5)
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            if pending:
                log.warning(
                    "%d handlers on %s outlived the grace period; their messages go "
                    "back to the queue",
                    len(pending),
                    self.queue.name,
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=2)
        # Settled, so written before the channel closes: closing would give them back.
        await self.bus.settlements.written()
        if self._channel is not None and not self._channel.is_closed:
            # Closing the channel returns every unacked message to the queue.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.close(), 5)

    def _channel_closed(self) -> bool:
        return self._channel is None or self._channel.is_closed

    @property
    def inflight(self) -> int:
        return len(self._inflight)


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
