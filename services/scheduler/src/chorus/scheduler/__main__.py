"""`python -m chorus.scheduler`: stages campaigns into shares and releases them when due."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chorus.common.addresses import AddressPolicy
from chorus.common.bus import Bus, Consumer
from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials import Keyring
from chorus.common.db import open_database
from chorus.common.http import NetworkHttp
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import CampaignCreated
from chorus.common.topology import SCHEDULER_CAMPAIGNS, SCHEDULER_WEBHOOKS
from chorus.common.tracing import start_tracing
from chorus.common.worker import serve_worker
from chorus.scheduler.handlers import SchedulerHandlers
from chorus.scheduler.releaser import Releaser
from chorus.scheduler.settings import SchedulerSettings
from chorus.scheduler.webhook_events import WebhookEvent, WebhookEvents
from chorus.scheduler.webhook_sender import WebhookSender

# A webhook's answer is a status; its body is never used, so little of it is read.
WEBHOOK_MAX_ANSWER_BYTES = 64 * 1024


async def serve(settings: SchedulerSettings, keyring: Keyring, stop: asyncio.Event) -> None:
    db = open_database(settings, application_name="chorus-scheduler")
    bus = await Bus.connect(settings, name="chorus-scheduler")
    handlers = SchedulerHandlers(
        db=db, rules=settings.staging_rules(), stagings_at_once=settings.stagings_at_once
    )
    consumer = Consumer(
        bus=bus,
        queue=SCHEDULER_CAMPAIGNS,
        model=CampaignCreated,
        handler=handlers.campaign_created,
        prefetch=settings.consumer_prefetch,
    )
    webhook_events = Consumer(
        bus=bus,
        queue=SCHEDULER_WEBHOOKS,
        model=WebhookEvent,
        handler=WebhookEvents(db=db).event,
        prefetch=settings.consumer_prefetch,
    )
    webhook_http = NetworkHttp(
        # Public https endpoints only, unless the operator says the CMS is on an intranet:
        # otherwise an API key could aim Chorus at internal services (SSRF).
        policy=AddressPolicy(allow_private=settings.webhooks_allow_private),
        deadline=settings.webhooks_deadline_seconds,
        max_bytes=WEBHOOK_MAX_ANSWER_BYTES,
        max_connections=20,
    )
    sender = WebhookSender(
        db=db,
        keyring=keyring,
        http=webhook_http,
        database_url=settings.database_url,
        max_attempts=settings.webhooks_max_attempts,
        batch_size=settings.webhooks_batch,
        poll_seconds=settings.webhooks_poll_seconds,
        keep_log=timedelta(days=settings.webhooks_log_days),
    )
    releaser = Releaser(
        db=db,
        bus=bus,
        database_url=settings.database_url,
        batch_size=settings.release_batch,
        shares_per_message=settings.shares_per_message,
        poll_seconds=settings.release_poll_seconds,
        sweep_seconds=settings.sweep_seconds,
        queued_after=timedelta(seconds=settings.queued_after_seconds),
        queued_patience=timedelta(seconds=settings.queued_patience_seconds),
    )

    await serve_worker(
        settings=settings,
        db=db,
        bus=bus,
        consumers=[consumer, webhook_events],
        loops=[releaser.run, sender.run],
        stop=stop,
        closers=[webhook_http.aclose],
    )


def main() -> None:
    settings = load_settings(SchedulerSettings)
    configure_logging(settings.log_level)
    keyring = keyring_from(settings)
    tracing = start_tracing(settings, service="chorus-scheduler")
    try:
        run(lambda stop: serve(settings, keyring, stop))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
