"""`NETWORK=mastodon python -m chorus.publisher`: posts one network's shares."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from chorus.common.bus import Bus, Consumer
from chorus.common.config import keyring_from, load_settings
from chorus.common.credentials import Keyring
from chorus.common.db import Database, open_database
from chorus.common.http import NetworkHttp
from chorus.common.lifecycle import configure_logging, run
from chorus.common.messages import SharesRequests
from chorus.common.outbox import OutboxRelay
from chorus.common.topology import publisher_queue
from chorus.common.tracing import start_tracing
from chorus.common.worker import serve_worker
from chorus.networks import app_for, spec_for
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.links import TrackedLinks
from chorus.publisher.media import ImageFetcher
from chorus.publisher.settings import PublisherSettings


async def serve(settings: PublisherSettings, keyring: Keyring, stop: asyncio.Event) -> None:
    name = f"chorus-publisher-{settings.network.value}"
    db = open_database(settings, application_name=name)
    bus = await Bus.connect(settings, name=name)
    http = NetworkHttp.from_settings(settings, max_connections=settings.http_max_connections)
    handlers = handlers_for(settings, db=db, http=http, keyring=keyring, stop=stop)
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


def handlers_for(
    settings: PublisherSettings,
    *,
    db: Database,
    http: NetworkHttp,
    keyring: Keyring,
    stop: asyncio.Event,
) -> PublisherHandlers:
    """The handlers as the settings say: every setting of the publisher's work reaches them."""
    spec = spec_for(settings.network)
    return PublisherHandlers(
        db=db,
        spec=spec,
        client=spec.client(http, app_for(spec, settings.network_apps.get(settings.network))),
        keyring=keyring,
        claim_lease=timedelta(seconds=settings.claim_lease_seconds),
        attempt_deadline=timedelta(seconds=settings.attempt_deadline_seconds),
        images=ImageFetcher(http, max_bytes=spec.max_image_bytes),
        longest_rate_wait=timedelta(seconds=settings.longest_rate_wait_seconds),
        links=_links(settings),
        in_flight=settings.prefetch,
        stopping=stop,
        published_per_message=settings.published_per_message,
    )


def _links(settings: PublisherSettings) -> TrackedLinks | None:
    if settings.links_base_url is None:
        return None
    key = settings.links_key.get_secret_value().encode()
    return TrackedLinks(base_url=settings.links_base_url, key=key)


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
