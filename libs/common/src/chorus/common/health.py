"""Dependency checks behind /healthz: each answers quickly and never raises."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from chorus.common.bus import Bus
from chorus.common.db import Database

__all__ = ["bus_ok", "database_ok"]


async def database_ok(db: Database) -> bool:
    try:
        async with asyncio.timeout(2):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def bus_ok(bus: Bus) -> bool:
    return not bus.connection.is_closed
