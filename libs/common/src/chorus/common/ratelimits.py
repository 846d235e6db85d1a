"""Rate budgets shared by every publisher replica: when a network says "wait" (a 429, or a
budget its headers say is spent), the hold is written here, per account or for Chorus's whole
app on that network (X's daily cap per app is every colleague's), and every replica delays
the held shares without calling the network. Only this module reads or writes `rate_holds`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.failures import RateScope
from chorus.common.kinds import Network

__all__ = ["Hold", "HoldQuery", "active_holds", "hold", "scope_key"]


def scope_key(scope: RateScope, account_id: uuid.UUID) -> str:
    return "app" if scope is RateScope.APP else f"account:{account_id}"


@dataclass(frozen=True, slots=True)
class Hold:
    network: Network
    scope: RateScope
    account_id: uuid.UUID
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class HoldQuery:
    network: Network
    account_id: uuid.UUID


_HOLD = text(
    """
    INSERT INTO rate_holds (network, scope_key, until, reason)
    SELECT * FROM unnest(CAST(:networks AS text[]), CAST(:keys AS text[]),
                         CAST(:untils AS timestamptz[]), CAST(:reasons AS text[]))
    ON CONFLICT (network, scope_key) DO UPDATE
        SET until = GREATEST(rate_holds.until, EXCLUDED.until),
            reason = CASE WHEN EXCLUDED.until > rate_holds.until
                          THEN EXCLUDED.reason ELSE rate_holds.reason END
    """
)


async def hold(*, session: Executor, holds: Sequence[Hold]) -> None:
    """Record holds; a longer hold already there is kept."""
    latest: dict[tuple[str, str], Hold] = {}
    for h in holds:
        key = (h.network.value, scope_key(h.scope, h.account_id))
        if key not in latest or latest[key].until < h.until:
            latest[key] = h
    if not latest:
        return
    await session.execute(
        _HOLD,
        {
            "networks": [k[0] for k in latest],
            "keys": [k[1] for k in latest],
            "untils": [h.until for h in latest.values()],
            "reasons": [h.reason[:500] for h in latest.values()],
        },
    )


_ACTIVE = text(
    """
    SELECT r.network, r.account_id, max(h.until) AS until,
           (array_agg(h.reason ORDER BY h.until DESC))[1] AS reason
    FROM unnest(CAST(:networks AS text[]), CAST(:accounts AS uuid[])) AS r(network, account_id)
    JOIN rate_holds h ON h.network = r.network
     AND h.scope_key IN ('app', 'account:' || r.account_id::text)
     AND h.until > now()
    GROUP BY r.network, r.account_id
    """
)


async def active_holds(
    *, session: Executor, queries: Sequence[HoldQuery]
) -> list[tuple[datetime, str] | None]:
    """For each (network, account): until when, and why, it must wait; None if it need not."""
    if not queries:
        return []
    rows = await session.execute(
        _ACTIVE,
        {
            "networks": [q.network.value for q in queries],
            "accounts": [q.account_id for q in queries],
        },
    )
    found = {(row.network, row.account_id): (row.until, row.reason) for row in rows}
    return [found.get((q.network.value, q.account_id)) for q in queries]
