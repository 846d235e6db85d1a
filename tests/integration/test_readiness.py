"""Readiness includes the schema: a service is not ready on an empty database or one whose
migrations have not reached the head it was built with, so the pods of a deploy wait for the
migration Job. On the real PostgreSQL, one scratch database per case."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from chorus.common.db import Database, open_database
from chorus.common.health import built_revisions, database_checks
from chorus.common.migrate import alembic_config
from chorus.common.settings import DatabaseSettings
from chorus.common.wakeup import asyncpg_dsn
from tests.conftest import Servers

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch(servers: Servers) -> AsyncIterator[tuple[str, Database]]:
    """An empty database of its own, and a pool on it."""
    admin = await asyncpg.connect(asyncpg_dsn(servers.database_url))
    try:
        await admin.execute("DROP DATABASE IF EXISTS chorus_readiness")
        await admin.execute("CREATE DATABASE chorus_readiness")
    finally:
        await admin.close()
    url = servers.database_url.rsplit("/", 1)[0] + "/chorus_readiness"
    db = open_database(DatabaseSettings(database_url=url), application_name="tests")
    yield url, db
    await db.close()


async def _upgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def test_an_empty_database_is_reachable_but_not_ready(
    scratch: tuple[str, Database],
) -> None:
    _, db = scratch
    assert await database_checks(db) == {"database": True, "schema": False}


async def test_an_older_schema_is_not_ready_and_the_head_is(
    scratch: tuple[str, Database],
) -> None:
    url, db = scratch
    [head] = built_revisions().heads
    previous = ScriptDirectory.from_config(alembic_config(url)).get_revision(head).down_revision
    assert isinstance(previous, str)
    await _upgrade(url, previous)
    assert await database_checks(db) == {"database": True, "schema": False}
    await _upgrade(url, "head")
    assert await database_checks(db) == {"database": True, "schema": True}


async def test_a_schema_migrated_by_a_newer_release_keeps_the_old_pods_ready(
    scratch: tuple[str, Database],
) -> None:
    """During a rolling upgrade the new release's Job migrates first; the old pods, which do
    not know its revision, keep serving until they are replaced."""
    url, db = scratch
    await _upgrade(url, "head")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("UPDATE alembic_version SET version_num = 'from_a_newer_build'")
    finally:
        await connection.close()
    assert await database_checks(db) == {"database": True, "schema": True}


async def test_an_unreachable_database_is_neither() -> None:
    db = open_database(
        DatabaseSettings(database_url="postgresql+asyncpg://chorus:chorus@127.0.0.1:1/chorus"),
        application_name="tests",
    )
    try:
        assert await database_checks(db) == {"database": False, "schema": False}
    finally:
        await db.close()


def _wait_for_schema(url: str) -> subprocess.CompletedProcess[str]:
    """The initContainer's command, with no patience: it answers at once."""
    return subprocess.run(
        [sys.executable, "-m", "chorus.common.health", "wait-for-schema", "0"],
        env={**os.environ, "CHORUS_DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )


async def test_the_init_container_holds_workers_back_until_the_migrations_ran(
    scratch: tuple[str, Database],
) -> None:
    url, _ = scratch
    waiting = await asyncio.to_thread(_wait_for_schema, url)
    assert waiting.returncode == 1 and "the schema is not at" in waiting.stderr
    await _upgrade(url, "head")
    done = await asyncio.to_thread(_wait_for_schema, url)
    assert done.returncode == 0, done.stderr
