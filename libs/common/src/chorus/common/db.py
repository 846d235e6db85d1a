"""One engine per process; a unit of work is `async with db.sessions.begin() as session`, or,
on the hot paths that only run SQL statements, `async with db.engine.begin() as connection`:
the ORM session's own bookkeeping cost a busy publisher a tenth of its CPU. The functions
that own the shares' statements take either (`Executor`). Where even SQLAlchemy's statement
layer costs too much (the outbox relay) or the driver's own API is needed (a staging's COPY
reader), `driver_transaction` runs a transaction on the pooled connection's asyncpg driver."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chorus.common.settings import DatabaseSettings

__all__ = ["Database", "Executor", "driver_transaction", "is_outage", "open_database"]

# Where a statement runs: an ORM session, or a bare connection in a transaction.
Executor = AsyncSession | AsyncConnection


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def close(self) -> None:
        await self.engine.dispose()


def open_database(
    settings: DatabaseSettings, *, application_name: str, pre_ping: bool = False
) -> Database:
    """`pre_ping` costs a round trip per checkout. Workers go without: after a database
    restart their first statement fails, SQLAlchemy drops the whole pool, and the message is
    redelivered. The API takes it, so a client never sees a 500 for a stale connection."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=600,
        connect_args={"server_settings": {"application_name": application_name}},
    )
    return Database(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))


@contextlib.asynccontextmanager
async def driver_transaction(engine: AsyncEngine, **options: Any) -> AsyncIterator[Any]:
    """`async with driver_transaction(engine) as connection:` a pooled connection's asyncpg
    driver in a transaction of its own (`options`: asyncpg's, e.g. `readonly=True`).

    The pool's reset on return knows nothing of a transaction opened on the driver, nor of a
    connection the driver found closed: on any error or cancellation the connection is closed
    and dropped from the pool, never handed to the next caller mid-transaction or dead."""
    async with engine.connect() as pooled:
        driver: Any = (await pooled.get_raw_connection()).driver_connection
        try:
            async with driver.transaction(**options):
                yield driver
        except BaseException:
            await pooled.invalidate()
            raise


# SQLSTATE classes of a server that cannot serve: connection exceptions, insufficient resources,
# operator intervention (shutting down, starting up).
_OUTAGE_STATES = ("08", "53", "57")


def is_outage(exc: Exception) -> bool:
    """Whether `exc` says the database is unreachable or going away, not that the statement or
    its data were at fault: trying the same work again piece by piece would only fail again."""
    if isinstance(exc, sa_exc.DBAPIError):
        state = getattr(exc.orig, "sqlstate", None) or ""
        if exc.connection_invalidated or state.startswith(_OUTAGE_STATES):
            return True
    return isinstance(
        exc,
        OSError
        | TimeoutError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError
        | sa_exc.OperationalError
        | sa_exc.InterfaceError,
    )
