"""Fixtures on real servers: PostgreSQL and RabbitMQ from the Debian packages, started once per
test session in a temporary folder on loopback ports. If they cannot start, the run fails."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from chorus.common.bus import Bus
from chorus.common.credentials import Keyring, new_key
from chorus.common.db import Database, open_database
from chorus.common.http import NetworkHttp
from chorus.common.migrate import upgrade
from chorus.common.models import Base
from chorus.common.settings import BusSettings, DatabaseSettings
from chorus.common.topology import DEAD_LETTER_QUEUE, all_queues
from chorus.devstack.bluesky import LocalBluesky
from chorus.devstack.postgres import LocalPostgres
from chorus.devstack.rabbitmq import LocalRabbitMQ
from chorus.netsim import SimState, create_app
from tests.factories import Org, make_org, network_http


@dataclass(frozen=True)
class Servers:
    database_url: str
    amqp_url: str


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    # mkdtemp's folder is 0700, like a clone in root's home: the servers must cope.
    root = Path(tempfile.mkdtemp(prefix="chorus-test-"))
    with (
        LocalPostgres(root=root / "postgres", durable=False) as pg,
        LocalRabbitMQ(root=root / "rabbitmq") as mq,
    ):
        upgrade(database_url=pg.url)
        yield Servers(database_url=pg.url, amqp_url=mq.url)


@pytest.fixture(scope="session")
def bsky() -> Iterator[LocalBluesky]:
    """A real Bluesky network (PLC, PDS, AppView from @atproto/dev-env on Node 22), once per
    session, on its own PostgreSQL (it holds about 22 connections, outside our budget). The
    first run on a machine installs it into a cache outside the checkout (minutes)."""
    # A folder only its owner can enter, like a clone in root's home: PostgreSQL (another user
    # when we are root) and Node must both cope.
    root = Path(tempfile.mkdtemp(prefix="chorus-bsky-"))
    with (
        LocalPostgres(root=root / "postgres", durable=False) as pg,
        LocalBluesky(root=root / "bluesky", postgres_dsn=pg.dsn) as network,
    ):
        yield network


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on a real Bluesky network (fixtures named `...bsky...`) run last: on a new machine
    its install (started in the background by `make test`) has the rest of the suite's time to
    finish."""
    items.sort(key=lambda item: any("bsky" in name for name in getattr(item, "fixturenames", ())))


@pytest.fixture(scope="session")
async def db(servers: Servers) -> AsyncIterator[Database]:
    database = open_database(
        DatabaseSettings(database_url=servers.database_url), application_name="tests"
    )
    yield database
    await database.close()


@pytest.fixture
async def clean_db(db: Database) -> Database:
    """The shared database, emptied before the test."""
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with db.sessions.begin() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return db


@pytest.fixture
def bus_settings(servers: Servers) -> BusSettings:
    return BusSettings(amqp_url=servers.amqp_url, delivery_limit=3)


@pytest.fixture
async def bus(bus_settings: BusSettings) -> AsyncIterator[Bus]:
    """A connected bus whose queues start empty."""
    connected = await Bus.connect(bus_settings, name="tests")
    channel = await connected.channel(prefetch=1)
    for spec in (*all_queues(), None):
        name = spec.name if spec else DEAD_LETTER_QUEUE
        queue = await channel.get_queue(name, ensure=True)
        await queue.purge()
    await channel.close()
    yield connected
    await connected.close()


@pytest.fixture
def keyring() -> Keyring:
    return Keyring([new_key()])


@pytest.fixture
def sim_state() -> SimState:
    return SimState()


@pytest.fixture
def sim_app(sim_state: SimState) -> FastAPI:
    return create_app(sim_state)


@pytest.fixture
async def sim_http(sim_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests reach the simulator app in-process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim_app), base_url="http://sim"
    ) as client:
        yield client


@pytest.fixture
async def sim_net(sim_app: FastAPI) -> AsyncIterator[NetworkHttp]:
    http = network_http(app=sim_app)
    yield http
    await http.aclose()


@pytest.fixture
async def org(clean_db: Database) -> Org:
    return await make_org(clean_db, name=f"org-{uuid.uuid4().hex[:6]}")
