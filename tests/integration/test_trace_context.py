"""The trace context crosses the bus and the outbox: a `traceparent` header on each message,
a column on each outbox row, and the consumer's span continues it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import select

from chorus.common.bus import Bus, Consumer
from chorus.common.db import Database
from chorus.common.messages import CampaignCreated
from chorus.common.models import OutboxEvent
from chorus.common.outbox import OutboxRelay, add_events
from chorus.common.topology import SCHEDULER_CAMPAIGNS
from chorus.common.tracing import TracingSettings, current_traceparent, span

pytestmark = pytest.mark.integration

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    # A process has one tracer provider: installed once, kept for the session (spans only
    # cost memory in the tests that follow).
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    return _EXPORTER


async def _handled_in(bus: Bus, count: int = 1) -> list[ReadableSpan]:
    """Consume `count` messages from the campaigns queue; the spans their handler ran in."""
    seen: list[ReadableSpan] = []
    done = asyncio.Event()

    async def handler(_: CampaignCreated) -> None:
        current = trace.get_current_span()
        assert isinstance(current, ReadableSpan)
        seen.append(current)
        if len(seen) >= count:
            done.set()

    consumer = Consumer(bus=bus, queue=SCHEDULER_CAMPAIGNS, model=CampaignCreated, handler=handler)
    await consumer.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await consumer.stop(grace=1)
    return seen


def _ids(traceparent: str) -> tuple[int, int]:
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


# A fresh process, as a service starts: its settings, its tracing, a span around some work.
_OFF = """
import sys
from opentelemetry import trace
import chorus.gateway.__main__, chorus.metrics.__main__
import chorus.publisher.__main__, chorus.scheduler.__main__
from chorus.scheduler.settings import SchedulerSettings
from chorus.common.tracing import current_traceparent, span, start_tracing

tracing = start_tracing(SchedulerSettings(), service="chorus-scheduler")
with span("work"):
    stored = current_traceparent()
# Handed a context (a message from a traced service), an untraced process passes it on.
handed = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
with span("work", parent=handed):
    with span("inner"):
        passed_on = current_traceparent() == handed
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk",
    "opentelemetry.exporter", "opentelemetry.instrumentation")))
print(tracing.enabled, stored, passed_on, type(trace.get_tracer_provider()).__name__, loaded)
"""


def test_off_by_default_nothing_is_installed_stored_or_loaded() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHORUS_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, "-c", _OFF], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    # No provider (the API's proxy answers with no-op spans), no context to store, a context
    # handed over passed on, and no SDK, exporter or instrumentation even imported.
    assert result.stdout.split() == ["False", "None", "True", "ProxyTracerProvider", "[]"]


def test_the_standard_variable_is_read_when_ours_is_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHORUS_OTEL_ENDPOINT", raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert TracingSettings().otel_endpoint == "http://127.0.0.1:4318"
    monkeypatch.setenv("CHORUS_OTEL_ENDPOINT", "http://collector:4318")
    assert TracingSettings().otel_endpoint == "http://collector:4318"


async def test_a_published_message_carries_its_trace_to_the_handler(
    bus: Bus, spans: InMemorySpanExporter
) -> None:
    with span("test publish"):
        sent = current_traceparent()
        assert sent is not None
        await bus.publish(CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4()))
    [handled] = await _handled_in(bus)
    trace_id, span_id = _ids(sent)
    assert handled.context is not None
    assert handled.context.trace_id == trace_id
    assert handled.parent is not None
    assert handled.parent.span_id == span_id
    assert handled.kind == trace.SpanKind.CONSUMER


async def test_an_outbox_row_keeps_the_trace_until_the_relay_sends_it(
    clean_db: Database, bus: Bus, spans: InMemorySpanExporter
) -> None:
    async with clean_db.sessions.begin() as session:
        # Written outside any span: stored untraced.
        await add_events(session, [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())])
    with span("test write"):
        written = current_traceparent()
        assert written is not None
        async with clean_db.sessions.begin() as session:
            await add_events(
                session, [CampaignCreated(campaign_id=uuid.uuid4(), org_id=uuid.uuid4())]
            )
    async with clean_db.sessions() as session:
        stored = list(await session.scalars(select(OutboxEvent.traceparent).order_by("id")))
    assert stored == [None, written]

    # Relayed later, by a loop outside that span: the row's context is what continues.
    relay = OutboxRelay(db=clean_db, bus=bus, database_url="unused")
    assert await relay.relay_once() == 2
    trace_id, span_id = _ids(written)
    handled = await _handled_in(bus, 2)
    traced = [h for h in handled if h.context is not None and h.context.trace_id == trace_id]
    assert len(traced) == 1
    # consumer <- relay's publish span <- the span that wrote the row
    published = {s.context.span_id: s for s in spans.get_finished_spans() if s.context}
    assert traced[0].parent is not None
    relayed = published[traced[0].parent.span_id]
    assert relayed.name == "campaign.created publish"
    assert relayed.parent is not None
    assert relayed.parent.span_id == span_id
