"""`NETWORK=mastodon python -m chorus.publisher`: posts one network's shares."""

from __future__ import annotations

import asyncio

from chorus.common.bus import Bus, Consumer
from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials import Keyring
from chorus.common.db import open_database
from chorus.common.http import NetworkHttp
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import SharesRequests
from chorus.common.outbox import OutboxRelay
from chorus.common.topology import publisher_queue
from chorus.common.tracing import start_tracing
from chorus.common.worker import serve_worker
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.settings import PublisherSettings


async def serve(settings: PublisherSettings, keyring: Keyring, stop: asyncio.Event) -> None:
    name = f"chorus-publisher-{settings.network.value}"
    db = open_database(settings, application_name=name)
    bus = await Bus.connect(settings, name=name)
    http = NetworkHttp.from_settings(settings, max_connections=settings.http_max_connections)
    handlers = PublisherHandlers.from_settings(
        settings, db=db, http=http, keyring=keyring, stop=stop
    )
    consumer = Consumer(
        bus=bus,
        queue=publisher_queue(settings.network),
        model=SharesRequests,
        handler=handlers.requested,
        prefetch=settings.prefetch_messages,
    )
    relay = OutboxRelay(db=db, bus=bus, database_url=settings.database_url)

    await serve_worker(
        settings=settings,
        db=db,
        bus=bus,
        consumers=[consumer],
        loops=[relay.run],
        stop=stop,
        closers=[http.aclose],
    )


def main() -> None:
    settings = load_settings(PublisherSettings)
    configure_logging(settings.log_level)
    keyring = keyring_from(settings)
    tracing = start_tracing(settings, service="chorus-publisher")
    try:
        run(lambda stop: serve(settings, keyring, stop))
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
