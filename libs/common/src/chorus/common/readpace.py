"""The collector's own pace under a network's declared read budget: before a read, its
requests are counted against the scope's current window in PostgreSQL, so every metrics
replica spends one budget between them. A read that does not fit waits for the next window.

Windows are fixed (aligned to the epoch, on the database's clock so replicas whose clocks
differ still share one window), like the networks' own counters (Mastodon's, X's):
at a window's edge two windows' worth can go out close together, which is why the budgets
declared for reads are a share of the network's, never all of it. Only this module reads or
writes `read_paces`."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.kinds import Network

__all__ = ["reserve"]

# One statement: counted only if the window is new or the reads still fit, so two replicas
# reserving at once cannot both take the last of a window (the row lock orders them).
_RESERVE = text(
    """
    WITH w AS (
        SELECT to_timestamp(floor(CAST(extract(epoch FROM now()) AS float8)
                                  / CAST(:seconds AS float8)) * CAST(:seconds AS float8)) AS start
    )
    INSERT INTO read_paces AS p (network, scope_key, window_start, used)
    SELECT CAST(:network AS text), CAST(:key AS text), w.start, CAST(:cost AS integer) FROM w
    ON CONFLICT (network, scope_key) DO UPDATE
        SET window_start = EXCLUDED.window_start,
            used = CASE WHEN p.window_start = EXCLUDED.window_start
                        THEN p.used + EXCLUDED.used ELSE EXCLUDED.used END
        WHERE p.window_start <> EXCLUDED.window_start
           OR p.used + EXCLUDED.used <= CAST(:limit AS integer)
    RETURNING used
    """
)
_NEXT = text(
    "SELECT to_timestamp((floor(CAST(extract(epoch FROM now()) AS float8)"
    " / CAST(:seconds AS float8)) + 1) * CAST(:seconds AS float8)) AS at"
)


async def reserve(
    *,
    session: Executor,
    network: Network,
    key: str,
    cost: int,
    limit: int,
    window: timedelta,
) -> datetime | None:
    """Count `cost` requests against `key`'s window; None if they fit, else when the next
    window starts. A read dearer than a whole window takes a window to itself (counted as
    `limit`), rather than never going out."""
    seconds = window.total_seconds()
    cost = max(1, min(cost, limit))
    row = (
        await session.execute(
            _RESERVE,
            {
                "network": network.value,
                "key": key,
                "seconds": seconds,
                "cost": cost,
                "limit": limit,
            },
        )
    ).first()
    if row is not None:
        return None
    later: datetime = (await session.execute(_NEXT, {"seconds": seconds})).scalar_one()
    return later
