"""The local PostgreSQL of `make run` and the tests starts wherever the checkout is, even in a
folder other users cannot enter (a clone in root's home, a `mktemp -d` folder), although the
server itself runs as its own system user when we are root."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import asyncpg
import pytest

from chorus.devstack.postgres import LocalPostgres

pytestmark = pytest.mark.integration


async def test_it_starts_in_a_folder_only_its_owner_can_enter() -> None:
    private = Path(tempfile.mkdtemp(prefix="chorus-clone-"))
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
    root = private / "checkout" / ".run" / "postgres"
    pg = LocalPostgres(root=root, durable=False)
    try:
        pg.start()
        connection = await asyncpg.connect(pg.dsn)
        try:
            assert await connection.fetchval("SELECT 1") == 1
        finally:
            await connection.close()
        # Stopped and started again (as a fault test does), it finds the same data.
        pg.stop()
        pg.start()
        connection = await asyncpg.connect(pg.dsn)
        await connection.close()
    finally:
        pg.stop()
        pg.cleanup()
    assert (root / "postgres.log").exists()  # the log stays where the user looks for it
