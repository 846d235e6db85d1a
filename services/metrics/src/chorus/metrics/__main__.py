"""`python -m chorus.metrics`: reads reach back from the networks and serves it."""

from __future__ import annotations

import asyncio

from chorus.common.bus import Bus, Consumer
from chorus.common.config import credentials_box, load_settings
from chorus.common.credentials import CredentialsBox
from chorus.common.db import open_database
from chorus.common.http import HttpPool
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import SharePublished
from chorus.common.networks import PUBLISHABLE, client_for
from chorus.common.topology import METRICS_SHARES
from chorus.common.wakeup import Wakeup
from chorus.common.worker import serve_worker
from chorus.metrics.collector import Collector
from chorus.metrics.gauges import run_gauges
from chorus.metrics.handlers import MetricsHandlers
from chorus.metrics.settings import MetricsSettings


async def serve(settings: MetricsSettings, box: CredentialsBox, stop: asyncio.Event) -> None:
    db = open_database(settings, application_name="chorus-metrics")
    bus = await Bus.connect(settings, name="chorus-metrics")
    http = HttpPool(max_connections=50, timeout=settings.http_timeout_seconds)
    # Read-backs due at once come from this process's own handler, so its poke is enough.
    wakeup = Wakeup(None, "readbacks")
    collector = Collector(
        db=db,
        clients={n: client_for(n, http=http) for n in PUBLISHABLE},
        credentials=box,
        wakeup=wakeup,
        batch_size=settings.readback_batch,
        max_attempts=settings.readback_attempts,
        poll_seconds=settings.poll_seconds,
    )
    handlers = MetricsHandlers(db=db, readback_after=settings.readback_after, poke=wakeup.poke)
    consumer = Consumer(
        bus=bus,
        queue=METRICS_SHARES,
        model=SharePublished,
        handler=handlers.share_published,
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
    box = credentials_box(settings)
    run(lambda stop: serve(settings, box, stop))


if __name__ == "__main__":
    main()
