"""`python -m chorus.scheduler`: stages campaigns into shares and releases them when due."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chorus.common.bus import Bus, Consumer
from chorus.common.config import load_settings
from chorus.common.db import open_database
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import CampaignCreated
from chorus.common.topology import SCHEDULER_CAMPAIGNS
from chorus.common.worker import serve_worker
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
        sweep_seconds=settings.sweep_seconds,
        queued_after=timedelta(seconds=settings.queued_after_seconds),
        queued_patience=timedelta(seconds=settings.queued_patience_seconds),
    )

    await serve_worker(
        settings=settings, db=db, bus=bus, consumers=[consumer], loops=[releaser.run], stop=stop
    )


def main() -> None:
    settings = load_settings(SchedulerSettings)
    configure_logging(settings.log_level)
    run(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
