"""One migration tree: it matches the models, and it goes down and up again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from chorus.common.migrate import alembic_config
from chorus.common.wakeup import asyncpg_dsn
from tests.conftest import Servers

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def scratch(servers: Servers) -> Servers:
    """A database of its own: going down to nothing must not disturb the other tests."""
    admin = await asyncpg.connect(asyncpg_dsn(servers.database_url))
    try:
        await admin.execute("DROP DATABASE IF EXISTS chorus_migrations")
        await admin.execute("CREATE DATABASE chorus_migrations")
    finally:
        await admin.close()
    url = servers.database_url.rsplit("/", 1)[0] + "/chorus_migrations"
    await asyncio.to_thread(_migrate_url, url)
    return Servers(database_url=url, amqp_url=servers.amqp_url)


def _migrate_url(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


def _migrate(servers: Servers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chorus.common.migrate", *args],
        env={**os.environ, "CHORUS_DATABASE_URL": servers.database_url},
        capture_output=True,
        text=True,
        check=False,
    )


async def test_models_and_migrations_agree(scratch: Servers) -> None:
    result = await asyncio.to_thread(_migrate, scratch, "check")
    assert result.returncode == 0, result.stderr[-2000:]


async def test_migrations_are_reversible(scratch: Servers) -> None:
    from alembic import command

    config = alembic_config(scratch.database_url)
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    assert (await asyncio.to_thread(_migrate, scratch, "check")).returncode == 0


async def test_the_shares_indexes_of_like_keys_do_not_deduplicate(scratch: Servers) -> None:
    """Staging's speed rests on it (migrations 0017, 0018): a COPY appends to these indexes, and
    deduplication would rewrite each filling leaf."""
    connection = await asyncpg.connect(asyncpg_dsn(scratch.database_url))
    try:
        rows = await connection.fetch(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY($1::text[])",
            [
                "ix_shares_status_planned_at",
                "ix_shares_org_id_day",
                "ix_shares_campaign_id_status",
            ],
        )
    finally:
        await connection.close()
    assert {r["relname"]: r["reloptions"] for r in rows} == {
        "ix_shares_status_planned_at": ["deduplicate_items=off"],
        "ix_shares_org_id_day": ["deduplicate_items=off"],
        "ix_shares_campaign_id_status": ["deduplicate_items=off"],
    }
