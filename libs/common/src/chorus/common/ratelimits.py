"""Rate budgets shared by every publisher replica: when a network says "wait" (a 429, or a
budget its headers say is spent), the hold is written here, per account or for Chorus's whole
app on that network (X's daily cap per app is every colleague's), and every replica delays
the held shares without calling the network. Only this module reads or writes `rate_holds`.

The metrics collector's reads are held here too (`read_hold`, `read_holds_on`). Where a
network's reads spend a budget of their own, their holds have keys of their own
(`read:account:<id>`, `read:server:<host>`, `read:app`) that posting never looks at; where
reads and posts spend one budget (Mastodon's /api/* per account), a read's hold is the
account's own posting hold, so each side waits on the other's 429s."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from chorus.common.db import Executor
from chorus.common.failures import RateScope
from chorus.common.kinds import Network

__all__ = [
    "BudgetScope",
    "Hold",
    "HoldQuery",
    "ReadHold",
    "ReadScopeOf",
    "active_holds",
    "hold",
    "read_hold",
    "read_holds_on",
    "scope_key",
]


def scope_key(scope: RateScope, account_id: uuid.UUID) -> str:
    return "app" if scope is RateScope.APP else f"account:{account_id}"


class BudgetScope(enum.StrEnum):
    """Whose read budget a read spends, as the network scopes its limit."""

    # The token's account (Mastodon's per account, X's per user, a LinkedIn member, a page).
    ACCOUNT = "account"
    # Every call Chorus makes to that server (a per-IP limit: Bluesky's PDS).
    SERVER = "server"
    # Chorus's app on the network, for every colleague at once.
    APP = "app"


@dataclass(frozen=True, slots=True)
class ReadScopeOf:
    """A read with one account's token on one server, under a network's read budget."""

    network: Network
    scope: BudgetScope
    # Reads and posts spend one budget on this network.
    shared_with_posting: bool
    account_id: uuid.UUID
    server: str

    def key(self, *, app: bool = False) -> str:
        """The hold (and pace) key a read's 429 or spent budget is recorded under; `app` when
        the network said the whole app is out (Facebook's code 4)."""
        if app or self.scope is BudgetScope.APP:
            return "app" if self.shared_with_posting else "read:app"
        if self.scope is BudgetScope.ACCOUNT:
            if self.shared_with_posting:
                return scope_key(RateScope.ACCOUNT, self.account_id)
            return f"read:account:{self.account_id}"
        return f"read:server:{self.server.lower()}"

    def keys_to_check(self) -> list[str]:
        """Every hold that stops this read: its own, the app's, and where the budget is
        shared, the account's posting holds (the same keys)."""
        keys = [self.key(), self.key(app=True)]
        if self.shared_with_posting:
            keys += [scope_key(RateScope.ACCOUNT, self.account_id), "app"]
        return list(dict.fromkeys(keys))


@dataclass(frozen=True, slots=True)
class ReadHold:
    network: Network
    key: str
    until: datetime
    reason: str


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
    await _record(
        session,
        [ReadHold(h.network, scope_key(h.scope, h.account_id), h.until, h.reason) for h in holds],
    )


async def read_hold(*, session: Executor, holds: Sequence[ReadHold]) -> None:
    """Record holds the collector's reads ran into (keys from `ReadScopeOf.key`)."""
    await _record(session, holds)


async def _record(session: Executor, holds: Iterable[ReadHold]) -> None:
    latest: dict[tuple[str, str], ReadHold] = {}
    for h in holds:
        key = (h.network.value, h.key)
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


_ON = text(
    """
    SELECT h.network, h.scope_key, h.until, h.reason
    FROM rate_holds h
    JOIN unnest(CAST(:networks AS text[]), CAST(:keys AS text[])) AS q(network, scope_key)
      ON h.network = q.network AND h.scope_key = q.scope_key
    WHERE h.until > now()
    """
)


async def read_holds_on(
    *, session: Executor, scopes: Sequence[ReadScopeOf]
) -> dict[ReadScopeOf, tuple[datetime, str]]:
    """The scopes among `scopes` that must not be read now: until when, and why."""
    wanted = {(s.network.value, k) for s in scopes for k in s.keys_to_check()}
    if not wanted:
        return {}
    rows = await session.execute(
        _ON, {"networks": [w[0] for w in wanted], "keys": [w[1] for w in wanted]}
    )
    found = {(row.network, row.scope_key): (row.until, row.reason) for row in rows}
    held: dict[ReadScopeOf, tuple[datetime, str]] = {}
    for s in scopes:
        hits = [found[k] for k in ((s.network.value, k) for k in s.keys_to_check()) if k in found]
        if hits:
            held[s] = max(hits)
    return held
