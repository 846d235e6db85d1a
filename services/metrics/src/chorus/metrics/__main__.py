"""`python -m chorus.metrics`: reads reach back from the networks and serves it."""

from __future__ import annotations

import asyncio

from chorus.common.bus import Bus, Consumer
from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials import Keyring
from chorus.common.db import open_database
from chorus.common.http import NetworkHttp
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import PublishedShares
from chorus.common.topology import METRICS_SHARES
from chorus.common.tracing import start_tracing
from chorus.common.wakeup import Wakeup
from chorus.common.worker import serve_worker
from chorus.metrics.collector import Collector
from chorus.metrics.gauges import run_gauges
from chorus.metrics.handlers import MetricsHandlers
from chorus.metrics.settings import MetricsSettings
from chorus.networks import app_for, specs


async def serve(settings: MetricsSettings, keyring: Keyring, stop: asyncio.Event) -> None:
    db = open_database(settings, application_name="chorus-metrics")
    bus = await Bus.connect(settings, name="chorus-metrics")
    http = NetworkHttp.from_settings(settings, max_connections=50)
    # Read-backs due at once come from this process's own handler, so its poke is enough.
    wakeup = Wakeup(None, "readbacks")
    collector = Collector(
        db=db,
        clients={
            network: spec.client(http, app_for(spec, settings.network_apps.get(network)))
            for network, spec in specs().items()
        },
        keyring=keyring,
        wakeup=wakeup,
        batch_size=settings.readback_batch,
        max_attempts=settings.readback_attempts,
        poll_seconds=settings.poll_seconds,
    )
    handlers = MetricsHandlers(
        db=db,
        readback_after=settings.readback_after,
        poke=wakeup.poke,
        linger=settings.schedule_linger_seconds,
        batch_size=settings.schedule_batch,
    )
    consumer = Consumer(
        bus=bus,
        queue=METRICS_SHARES,
        model=PublishedShares,
        handler=handlers.published,
        prefetch=settings.consumer_prefetch,
    )

    async def gauges(stop: asyncio.Event) -> None:
        await run_gauges(db, bus, every=settings.gauge_refresh_seconds, stop=stop)

    async with wakeup:
        await serve_worker(
            settings=settings,
            db=db,
            bus=bus,
            consumers=[consumer],
            loops=[collector.run, gauges],
            stop=stop,
            closers=[http.aclose],
        )


def main() -> None:
    settings = load_settings(MetricsSettings)
    configure_logging(settings.log_level)
    keyring = keyring_from(settings)
    tracing = start_tracing(settings, service="chorus-metrics")
    try:
        run(lambda stop: serve(settings, keyring, stop))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
