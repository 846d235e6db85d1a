"""Migration 0006 turns the `active` flag into a status and back, keeping who takes shares."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from alembic import command

from chorus.common.migrate import alembic_config
from chorus.common.wakeup import asyncpg_dsn
from tests.conftest import Servers

pytestmark = pytest.mark.integration


async def test_active_becomes_a_status_and_back(servers: Servers) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(servers.database_url))
    try:
        await admin.execute("DROP DATABASE IF EXISTS chorus_colleagues_migration")
        await admin.execute("CREATE DATABASE chorus_colleagues_migration")
    finally:
        await admin.close()
    url = servers.database_url.rsplit("/", 1)[0] + "/chorus_colleagues_migration"
    config = alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "0005")
    scratch = await asyncpg.connect(asyncpg_dsn(url))
    try:
        org_id = await scratch.fetchval(
            "INSERT INTO organisations (name) VALUES ('Old') RETURNING id"
        )
        await scratch.execute(
            "INSERT INTO ambassadors (org_id, external_id, display_name, timezone, active) "
            "VALUES ($1, 'on', 'On', 'Europe/Paris', true), ($1, 'off', 'Off', 'UTC', false)",
            org_id,
        )
        await asyncio.to_thread(command.upgrade, config, "0006")
        rows = await scratch.fetch(
            "SELECT external_id, timezone, status, quiet_start::text, quiet_end::text, groups "
            "FROM ambassadors ORDER BY external_id"
        )
        assert [tuple(r) for r in rows] == [
            ("off", "UTC", "paused", "22:00:00", "07:00:00", []),
            ("on", "Europe/Paris", "active", "22:00:00", "07:00:00", []),
        ]
        await scratch.execute(
            "INSERT INTO ambassadors (org_id, external_id, display_name, status) "
            "VALUES ($1, 'gone', 'Gone', 'left')",
            org_id,
        )
        await asyncio.to_thread(command.downgrade, config, "0005")
        back = await scratch.fetch("SELECT external_id, active FROM ambassadors ORDER BY 1")
        assert [tuple(r) for r in back] == [("gone", False), ("off", False), ("on", True)]
    finally:
        await scratch.close()
