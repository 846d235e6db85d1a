"""`python -m chorus.scheduler`: stages campaigns into shares and releases them when due."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chorus.common.bus import Bus, Consumer
from chorus.common.db import open_database
from chorus.common.health import bus_ok, database_ok
from chorus.common.lifecycle import configure_logging, run, supervise
from chorus.common.messages import CampaignCreated
from chorus.common.ops import serve_ops
from chorus.common.topology import SCHEDULER_CAMPAIGNS
from chorus.scheduler.handlers import SchedulerHandlers
from chorus.scheduler.releaser import Releaser
from chorus.scheduler.settings import SchedulerSettings


async def serve(settings: SchedulerSettings, stop: asyncio.Event) -> None:
    db = open_database(settings, application_name="chorus-scheduler")
    bus = await Bus.connect(settings, name="chorus-scheduler")
    handlers = SchedulerHandlers(db=db)
    consumer = Consumer(
        bus=bus,
        queue=SCHEDULER_CAMPAIGNS,
        model=CampaignCreated,
        handler=handlers.campaign_created,
        prefetch=settings.consumer_prefetch,
    )
    releaser = Releaser(
        db=db,
        bus=bus,
        database_url=settings.database_url,
        batch_size=settings.release_batch,
        poll_seconds=settings.release_poll_seconds,
        stale_after=timedelta(seconds=settings.stale_after_seconds),
    )

    async def health() -> dict[str, bool]:
        return {"database": await database_ok(db), "bus": bus_ok(bus)}

    try:
        async with (
            serve_ops(host=settings.ops_host, port=settings.ops_port, health=health),
            supervise(releaser.run, stop=stop),
        ):
            await consumer.start()
            await stop.wait()
            await consumer.stop(grace=settings.shutdown_grace_seconds)
    finally:
        await bus.close()
        await db.close()


def main() -> None:
    settings = SchedulerSettings()
    configure_logging(settings.log_level)
    run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
