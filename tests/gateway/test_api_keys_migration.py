"""Migration 0005 moves each organisation's one key into `api_keys`: it goes on working."""

from __future__ import annotations

import asyncio
import hashlib

import asyncpg
import pytest
from alembic import command

from chorus.common.db import open_database
from chorus.common.migrate import alembic_config
from chorus.common.settings import DatabaseSettings
from chorus.common.wakeup import asyncpg_dsn
from tests.conftest import Servers
from tests.gateway.conftest import GatewayFactory, client_for

pytestmark = pytest.mark.integration

KEY = "chorus_an-old-key-from-before-there-were-several-ones"


async def test_an_organisations_key_survives_the_move_to_several_keys(
    servers: Servers, gateway_app: GatewayFactory
) -> None:
    admin = await asyncpg.connect(asyncpg_dsn(servers.database_url))
    try:
        await admin.execute("DROP DATABASE IF EXISTS chorus_keys_migration")
        await admin.execute("CREATE DATABASE chorus_keys_migration")
    finally:
        await admin.close()
    url = servers.database_url.rsplit("/", 1)[0] + "/chorus_keys_migration"
    config = alembic_config(url)
    await asyncio.to_thread(command.upgrade, config, "0004")
    scratch = await asyncpg.connect(asyncpg_dsn(url))
    try:
        org_id = await scratch.fetchval(
            "INSERT INTO organisations (name, api_key_hash) VALUES ('Old', $1) RETURNING id",
            hashlib.sha256(KEY.encode()).hexdigest(),
        )
        await asyncio.to_thread(command.upgrade, config, "0005")
        moved = await scratch.fetch("SELECT org_id, name, prefix, revoked_at FROM api_keys")
        assert [tuple(row) for row in moved] == [(org_id, "API key", None, None)]
        columns = await scratch.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'organisations'"
        )
        assert "api_key_hash" not in {row["column_name"] for row in columns}

        db = open_database(DatabaseSettings(database_url=url), application_name="tests")
        try:
            async with client_for(gateway_app(db=db)) as api:
                listed = await api.get("/v1/api-keys", headers={"Authorization": f"Bearer {KEY}"})
                assert listed.status_code == 200, listed.text
                assert [(k["name"], k["prefix"]) for k in listed.json()] == [("API key", None)]
        finally:
            await db.close()

        # And back: the organisation keeps its (oldest working) key.
        await asyncio.to_thread(command.downgrade, config, "0004")
        back = await scratch.fetchval(
            "SELECT api_key_hash FROM organisations WHERE id = $1", org_id
        )
        assert back == hashlib.sha256(KEY.encode()).hexdigest()
    finally:
        await scratch.close()
