"""A worker's life on real servers."""

from __future__ import annotations

import asyncio
import gc

import pytest

from chorus.common.bus import Bus
from chorus.common.db import open_database
from chorus.common.settings import BusSettings, ServiceSettings
from chorus.common.worker import serve_worker
from tests.conftest import Servers
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration


async def test_a_started_worker_freezes_what_it_made_starting_and_collects_less_often(
    servers: Servers, bus_settings: BusSettings
) -> None:
    # The bus as the other tests declare it: a queue's arguments cannot change.
    settings = ServiceSettings(database_url=servers.database_url, **bus_settings.model_dump())
    db = open_database(settings, application_name="tests-worker")
    bus = await Bus.connect(settings, name="tests-worker")
    gc.unfreeze()
    threshold = gc.get_threshold()
    stop = asyncio.Event()
    worker = asyncio.create_task(
        serve_worker(settings=settings, db=db, bus=bus, consumers=[], stop=stop)
    )
    try:
        # Frozen: the cycle collector no longer walks the objects of the start-up.
        await eventually(_frozen, until=lambda n: n > 0, timeout=10)
        # And the young generation is collected less often than Python's default.
        assert gc.get_threshold()[0] > threshold[0]
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def _frozen() -> int:
    return gc.get_freeze_count()
