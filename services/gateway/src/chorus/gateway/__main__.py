"""`python -m chorus.gateway`: the HTTP API, plus an outbox relay for the events it writes."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime, timedelta

import uvicorn

from chorus.common.addresses import AddressPolicy
from chorus.common.bus import Bus
from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials import Keyring
from chorus.common.db import open_database
from chorus.common.health import bus_ok
from chorus.common.http import NetworkHttp
from chorus.common.lifecycle import configure_logging, freeze_startup, run, supervise
from chorus.common.ops import EmbeddedServer, serve_ops
from chorus.common.outbox import OutboxRelay
from chorus.common.tracing import start_tracing
from chorus.gateway.app import create_app
from chorus.gateway.idempotency_store import IdempotencyPolicy, sweep_answers
from chorus.gateway.ratelimit import TokenBuckets
from chorus.gateway.settings import GatewaySettings
from chorus.networks import app_for, specs


async def serve(settings: GatewaySettings, keyring: Keyring, stop: asyncio.Event) -> None:
    db = open_database(settings, application_name="chorus-gateway", pre_ping=True)
    bus = await Bus.connect(settings, name="chorus-gateway")
    relay = OutboxRelay(db=db, bus=bus, database_url=settings.database_url)
    http = NetworkHttp.from_settings(settings, max_connections=20)
    idempotency = IdempotencyPolicy(
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
        retention=timedelta(hours=settings.idempotency_retention_hours),
    )
    app = create_app(
        db=db,
        keyring=keyring,
        address_policy=AddressPolicy(allow_private=settings.allow_private_networks),
        network_http=http,
        network_apps={
            network: app
            for network, spec in specs().items()
            if (app := app_for(spec, settings.network_apps.get(network))) is not None
        },
        public_url=settings.public_url,
        allow_raw_tokens=settings.allow_raw_tokens,
        max_body_bytes=settings.max_body_bytes,
        extra_health=lambda: {"bus": bus_ok(bus)},
        rate_limiter=TokenBuckets.for_replica(
            rate=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            replicas=settings.replicas,
        ),
        idempotency=idempotency,
        webhook_policy=AddressPolicy(allow_private=settings.webhooks_allow_private),
        page_link_lifetime=timedelta(days=settings.page_link_days),
    )
    if settings.otel_endpoint:
        # The request's span, parent of everything the request sets going. Imported here: off,
        # the instrumentation is never loaded (it reads its own variables when imported).
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="/healthz,/livez,/metrics", exclude_spans=["receive", "send"]
        )
    sweeper = functools.partial(
        sweep_answers,
        db=db,
        policy=idempotency,
        clock=lambda: datetime.now(UTC),
        every=settings.idempotency_sweep_seconds,
    )
    server = EmbeddedServer(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )
    )
    try:
        async with (
            serve_ops(host=settings.ops_host, port=settings.ops_port, health=app.state.health),
            supervise(relay.run, sweeper, service_stop=stop),
        ):
            freeze_startup()
            serving = asyncio.create_task(server.serve())
            await asyncio.wait(
                [serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
            )
            # Stop taking requests, finish the ones in flight; the relay drains after.
            server.should_exit = True
            await serving
    finally:
        await http.aclose()
        await bus.close()
        await db.close()


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging(settings.log_level)
    keyring = keyring_from(settings)
    tracing = start_tracing(settings, service="chorus-gateway")
    try:
        run(lambda stop: serve(settings, keyring, stop))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
