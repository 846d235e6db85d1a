"""OpenTelemetry traces across the bus: one share's way from the CMS's POST to the network's
answer is one trace, whatever queues and tables it waits in.

Off by default: no tracer provider is installed, every span is the API's no-op and no
`traceparent` is written anywhere. With an OTLP endpoint configured, each service installs a
provider at start that exports over OTLP/HTTP (protobuf):

    tracing = start_tracing(settings, service="chorus-scheduler")
    try:
        run(...)
    finally:
        tracing.shutdown()   # flushes the spans still in the batch

The context crosses every wait as a W3C `traceparent`: an AMQP header on each message (put
there by `chorus.common.bus`, read back where the consumer settles the message), a column on
each outbox row, and a column on the campaign for the shares the releaser sends later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "TRACEPARENT",
    "Tracing",
    "TracingSettings",
    "context_from",
    "current_traceparent",
    "span",
    "start_tracing",
]

TRACEPARENT = "traceparent"

# W3C trace context only: what every hop stores is one `traceparent` string.
_PROPAGATOR = TraceContextTextMapPropagator()


class TracingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHORUS_", extra="ignore", frozen=True)

    otel_endpoint: str = Field(
        default="",
        max_length=500,
        pattern=r"^(https?://\S+)?$",
        validation_alias=AliasChoices(
            "otel_endpoint", "CHORUS_OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"
        ),
        description="Base URL of an OTLP/HTTP collector (spans go to <url>/v1/traces); "
        "CHORUS_OTEL_ENDPOINT, else the standard OTEL_EXPORTER_OTLP_ENDPOINT. Empty: no traces.",
    )


@dataclass
class Tracing:
    """What `start_tracing` installed; `shutdown` flushes and stops the exporter."""

    provider: Any = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def start_tracing(settings: TracingSettings, *, service: str) -> Tracing:
    """Install the exporting provider when an endpoint is configured; otherwise nothing."""
    if not settings.otel_endpoint:
        return Tracing()
    # The SDK is imported only when traces are on: off, the process pays for the API alone.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    endpoint = settings.otel_endpoint.rstrip("/") + "/v1/traces"
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint), schedule_delay_millis=1000)
    )
    trace.set_tracer_provider(provider)
    return Tracing(provider=provider)


def current_traceparent() -> str | None:
    """The current span as a `traceparent`, or None when there is none (tracing off)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from(carrier: Mapping[str, Any] | str | None) -> otel_context.Context | None:
    """The context a stored `traceparent` (or a message's headers) names; None if none."""
    if carrier is None:
        return None
    if isinstance(carrier, str):
        carrier = {TRACEPARENT: carrier}
    value = carrier.get(TRACEPARENT)
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value:
        return None
    return _PROPAGATOR.extract({TRACEPARENT: value})


@contextmanager
def span(
    name: str,
    *,
    parent: Mapping[str, Any] | str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | bool] | None = None,
) -> Iterator[Span]:
    """A span, child of `parent` (a stored `traceparent` or message headers) when given, else of
    the current span. Attributes name things (a network, a queue, a status): never a token or a
    message's text."""
    context = context_from(parent)
    if context is None and not _installed():
        # Off, the API's no-op span would only stand in for the current one (an untraced
        # process still passes on a context it was handed): the same, for a fraction of the
        # cost of a span per share and per hop.
        yield trace.get_current_span()
        return
    with _tracer().start_as_current_span(
        name, context=context, kind=kind, attributes=attributes
    ) as current:
        yield current


_provider_seen = False


def _installed() -> bool:
    """Whether a tracer provider is installed (by `start_tracing`, or a test); one never goes
    away once set, so after the first yes the question costs nothing."""
    global _provider_seen
    if not _provider_seen:
        # The API's own record of an installed provider, read directly: while none is,
        # `get_tracer_provider()` looks the environment up on every call (2% of a publisher's
        # CPU on the bench, a span per share and per hop). The public question answers where
        # the API keeps it elsewhere.
        installed = getattr(trace, "_TRACER_PROVIDER", _UNKNOWN)
        if installed is _UNKNOWN:
            installed = trace.get_tracer_provider()
            _provider_seen = not isinstance(installed, trace.ProxyTracerProvider)
        else:
            _provider_seen = installed is not None
    return _provider_seen


_UNKNOWN = object()


@cache
def _tracer() -> trace.Tracer:
    # A proxy until `start_tracing` installs a provider, then the provider's tracer.
    return trace.get_tracer("chorus")
