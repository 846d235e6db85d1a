"""What PostgreSQL spent on a run, statement by statement (`--pg-statements N`): which of
Chorus's statements cost the most per share, how many rows and how much WAL each writes.

Statements nested in others (foreign-key checks, a trigger's notify) are counted on their own
and within their caller, so the column does not add up to the run's total."""

from __future__ import annotations

import asyncpg

__all__ = ["SETTINGS", "report", "reset"]

# The server settings the tracking needs; it costs the measured run a little CPU.
SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
}

_TOP = """
    SELECT calls, rows, total_exec_time, wal_bytes,
           left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT $1
"""


async def reset(dsn: str) -> int:
    """Tracking from now on; returns the WAL position to count the run's WAL from."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await connection.execute("SELECT pg_stat_statements_reset()")
        return int(await connection.fetchval("SELECT pg_current_wal_lsn()"))
    finally:
        await connection.close()


async def report(dsn: str, *, since_wal: int, shares: int, top: int) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        wal = int(await connection.fetchval("SELECT pg_current_wal_lsn()")) - since_wal
        calls = int(await connection.fetchval("SELECT sum(calls) FROM pg_stat_statements"))
        rows = await connection.fetch(_TOP, top)
    finally:
        await connection.close()
    lines = [
        f"postgresql: {calls / shares:.1f} statements and {wal / shares:.0f} B of WAL per share; "
        f"the {top} costliest (exec µs, calls, rows and WAL B per share):"
    ]
    lines += [
        f"  {1000 * r['total_exec_time'] / shares:7.1f} µs {r['calls'] / shares:6.2f} "
        f"{r['rows'] / shares:6.2f} {r['wal_bytes'] / shares:6.0f} B  {r['query']}"
        for r in rows
    ]
    return lines
