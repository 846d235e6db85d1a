"""Dependency checks behind /healthz: each answers quickly and never raises.

Readiness includes the schema: a service is not ready until the database is at the Alembic
head it was built with, so pods started before the migration Job has finished (or against an
empty database) take no traffic and no messages' worth of failures. One query, no Alembic
machinery per probe: the heads of this build's migrations are read from its files once."""

from __future__ import annotations

import asyncio
import functools
import sys
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from chorus.common.bus import Bus
from chorus.common.db import Database, open_database
from chorus.common.settings import DatabaseSettings

__all__ = ["Revisions", "built_revisions", "bus_ok", "database_checks", "schema_current"]


@dataclass(frozen=True)
class Revisions:
    """The migrations a build carries: their heads and every revision they know."""

    heads: frozenset[str]
    known: frozenset[str]


@functools.cache
def built_revisions() -> Revisions:
    """This build's migrations, read from its files once (the first probe). Alembic is
    imported here, not at start: the services' start stays as quick as it was."""
    from alembic.script import ScriptDirectory

    from chorus.common.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    return Revisions(
        heads=frozenset(scripts.get_heads()),
        known=frozenset(r.revision for r in scripts.walk_revisions()),
    )


def schema_current(stamped: frozenset[str], revisions: Revisions) -> bool:
    """At this build's heads, or past them: revisions this build does not know were written by
    a newer build, whose migration Job has run ahead of this old pod during a rolling upgrade
    (migrations keep the previous release working: add first, remove a release later). A
    known revision that is not a head is an older schema: not ready."""
    if not stamped:
        return False
    return stamped == revisions.heads or not (stamped & revisions.known)


async def database_checks(db: Database, revisions: Revisions | None = None) -> dict[str, bool]:
    """{"database": reachable, "schema": at this build's migrations}, from one query."""
    revisions = revisions or built_revisions()
    try:
        async with asyncio.timeout(2):
            async with db.engine.connect() as connection:
                rows = await connection.scalars(text("SELECT version_num FROM alembic_version"))
                stamped = frozenset(rows.all())
    except ProgrammingError:
        # No alembic_version table: an empty database, the migrations have not run.
        return {"database": True, "schema": False}
    except Exception:
        return {"database": False, "schema": False}
    return {"database": True, "schema": schema_current(stamped, revisions)}


def bus_ok(bus: Bus) -> bool:
    return not bus.connection.is_closed


async def wait_for_schema(db: Database, *, timeout: float, every: float = 2.0) -> bool:
    """Poll until the schema is at this build's migrations; False at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if (await database_checks(db))["schema"]:
            return True
        if loop.time() + every > deadline:
            return False
        await asyncio.sleep(every)


def main(argv: list[str]) -> int:
    """`python -m chorus.common.health wait-for-schema [SECONDS]`: a Kubernetes initContainer
    that holds a worker back until the migration Job has brought the schema to the head this
    image was built with. Readiness alone does not: an unready worker still consumes."""
    if argv[:1] != ["wait-for-schema"] or len(argv) > 2:
        print("usage: python -m chorus.common.health wait-for-schema [SECONDS]", file=sys.stderr)
        return 2
    timeout = float(argv[1]) if len(argv) == 2 else 600.0

    async def wait() -> bool:
        db = open_database(DatabaseSettings(), application_name="chorus-wait-for-schema")
        try:
            return await wait_for_schema(db, timeout=timeout)
        finally:
            await db.close()

    if asyncio.run(wait()):
        return 0
    print(
        f"the schema is not at {sorted(built_revisions().heads)} after {timeout:.0f}s",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
