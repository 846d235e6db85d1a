"""One share's way is one trace: the whole stack as processes, exporting over OTLP/HTTP to a
receiver in the test, from the CMS's POST to the network's answer and the metrics service's
handling. (Tracing off, the default, is shown in a fresh process importing the four services in
test_trace_context.py: a second start of the stack costs minutes on a busy machine.)"""

from __future__ import annotations

import asyncio
import gzip
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from sqlalchemy import select

from chorus.common.db import open_database
from chorus.common.models import Campaign, OutboxEvent
from chorus.common.settings import DatabaseSettings
from chorus.devstack.stack import SERVICES, Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Received:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, Any]


class Receiver:
    """An OTLP/HTTP trace collector that keeps what it is sent."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.requests = 0

    async def export(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        exported = ExportTraceServiceRequest.FromString(body)
        self.requests += 1
        for resource_spans in exported.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    self.spans.append(
                        Received(
                            service=resource.get("service.name", ""),
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            name=s.name,
                            kind=s.kind,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    collector = Receiver()
    app = web.Application()
    app.router.add_post("/v1/traces", collector.export)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield collector, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _start_services(stack: Stack, *, endpoint: str) -> None:
    """The four services, one after the other (side by side they starve each other on a busy
    machine); traced through our variable for two, the standard one for the other two."""
    for name in SERVICES:
        standard = name in {"publisher", "metrics"}
        variable = "OTEL_EXPORTER_OTLP_ENDPOINT" if standard else "CHORUS_OTEL_ENDPOINT"
        # With the patience a machine shared with other test runs needs (a service's imports
        # alone took over a minute there).
        await asyncio.to_thread(stack.start_service, name, timeout=240, **{variable: endpoint})


async def _post_campaign(stack: Stack, key: str, message: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{stack.gateway_url}/v1/campaigns",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "title": message,
                "url": "https://example.com/post",
                "message": message,
                "networks": ["mastodon"],
            },
        )
    assert response.status_code == 201, response.text


async def _posted(stack: Stack, message: str) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        posts = (await http.get(f"{stack.sim_url}/_sim/posts")).json()
    return sum(1 for p in posts if p["text"].startswith(message))


def _chain(spans: dict[str, Received], leaf: Received) -> list[Received]:
    """`leaf` and its ancestors up to the root; fails if a parent is missing."""
    chain = [leaf]
    while chain[-1].parent_id:
        parent = spans.get(chain[-1].parent_id)
        assert parent is not None, f"{chain[-1].name} ({chain[-1].service}): parent not exported"
        chain.append(parent)
    return chain


def _connected_trace(collector: Receiver) -> tuple[list[Received], list[Received]] | None:
    """The chains from the publisher's network call and from the metrics service's handling
    up to the gateway's request, once every span on them has arrived."""
    by_id = {s.span_id: s for s in collector.spans}
    calls = [
        s
        for s in collector.spans
        # The post itself (the client may look the account up first).
        if s.service == "chorus-publisher"
        and s.kind == ProtoSpan.SPAN_KIND_CLIENT
        and s.attributes.get("http.request.method") == "POST"
    ]
    handled = [
        s
        for s in collector.spans
        if s.service == "chorus-metrics" and s.name == "schedule readbacks"
    ]
    if not calls or not handled:
        return None
    try:
        return _chain(by_id, calls[0]), _chain(by_id, handled[0])
    except AssertionError:
        return None  # an ancestor not exported yet


async def test_one_trace_spans_all_four_services(receiver: tuple[Receiver, str]) -> None:
    collector, endpoint = receiver
    root = Path(tempfile.mkdtemp(prefix="chorus-traces-"))
    with Stack(root=root) as stack:
        await asyncio.to_thread(stack.start_servers)
        await asyncio.to_thread(stack.migrate)
        await asyncio.to_thread(stack.start_simulator)
        await _start_services(stack, endpoint=endpoint)
        key = await asyncio.to_thread(stack.create_organisation, "Traces")
        await asyncio.to_thread(stack.seed_ambassadors, api_key=key, count=1)
        db = open_database(DatabaseSettings(database_url=stack.database_url), application_name="t")
        try:
            await _post_campaign(stack, key, "Traced")
            await eventually(lambda: _posted(stack, "Traced"), until=lambda n: n == 1, timeout=60)
            # The campaign's trace waits in the database with it; the outbox rows with theirs.
            async with db.sessions() as session:
                stored = await session.scalar(select(Campaign.traceparent))
                relayed = await session.scalar(
                    select(OutboxEvent.traceparent).where(
                        OutboxEvent.routing_key == "campaign.created"
                    )
                )
            assert stored is not None
            assert relayed is not None
            found = await eventually(
                lambda: asyncio.sleep(0, _connected_trace(collector)),
                until=lambda chains: chains is not None,
                timeout=60,
                interval=0.2,
            )
        finally:
            await db.close()
    assert found is not None
    to_network, to_metrics = found

    # One trace, rooted at the gateway's request span for the POST.
    request = to_network[-1]
    assert request.service == "chorus-gateway"
    assert request.kind == ProtoSpan.SPAN_KIND_SERVER
    assert "/v1/campaigns" in request.name
    assert to_metrics[-1] == request
    trace = [s for s in collector.spans if s.trace_id == request.trace_id]
    assert {s.service for s in trace} == {f"chorus-{name}" for name in SERVICES}
    assert {s.trace_id for s in to_network + to_metrics} == {request.trace_id}

    # The network call: method, network and status, under the attempt, the claim's message,
    # the release and the staging, across the database twice.
    call = to_network[0]
    assert call.attributes["http.request.method"] == "POST"
    assert call.attributes["chorus.network"] == "mastodon"
    assert call.attributes["http.response.status_code"] == 200
    names = [s.name for s in to_network]
    for expected in ("attempt share", "release shares", "stage campaign"):
        assert expected in names, names
    assert [s.service for s in to_network if s.kind == ProtoSpan.SPAN_KIND_CONSUMER] == [
        "chorus-publisher",
        "chorus-scheduler",
    ]
    # The outcome reaches the metrics service through the publisher's outbox.
    assert [s.service for s in to_metrics if s.kind == ProtoSpan.SPAN_KIND_CONSUMER] == [
        "chorus-metrics",
        "chorus-publisher",
        "chorus-scheduler",
    ]
    assert "record outcome" in [s.name for s in to_metrics]

    # Nothing secret or personal in what was exported.
    values = " ".join(str(v) for s in trace for v in s.attributes.values())
    assert key not in values
    assert "Traced" not in values
