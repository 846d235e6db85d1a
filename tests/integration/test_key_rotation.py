"""Rotating the credentials key: put the new key first, re-seal, drop the old key."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import text

from chorus.common.credentials import Keyring, new_key
from chorus.common.db import Database
from tests.conftest import Servers
from tests.factories import Org, make_accounts, sim_accounts

pytestmark = pytest.mark.integration


async def test_reseal_moves_every_credential_to_the_newest_key(
    clean_db: Database, org: Org, sim_http: httpx.AsyncClient, servers: Servers
) -> None:
    old, new = new_key(), new_key()
    accounts = await sim_accounts(sim_http, count=7)
    await make_accounts(clean_db, org=org, keyring=Keyring([old]), sim=accounts)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chorus.common.credentials", "reseal"],
        env={
            **os.environ,
            "CHORUS_DATABASE_URL": servers.database_url,
            "CHORUS_CREDENTIALS_KEY": f"{new},{old}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "re-sealed 7 credentials" in result.stdout
    async with clean_db.sessions() as session:
        sealed = list(await session.scalars(text("SELECT credentials FROM accounts")))
    only_new = Keyring([new])
    tokens = sorted(only_new.open(s).access_token for s in sealed)
    assert tokens == sorted(a["token"] for a in accounts)


async def test_reseal_refuses_a_bad_key_clearly(servers: Servers) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chorus.common.credentials", "reseal"],
        env={
            **os.environ,
            "CHORUS_DATABASE_URL": servers.database_url,
            "CHORUS_CREDENTIALS_KEY": "not-a-key",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "configuration error" in result.stderr
