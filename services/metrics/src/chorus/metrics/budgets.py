"""The collector's side of the networks' read budgets: which reads a hold stops, whether a
read still fits the budget's window (counted in PostgreSQL, shared by every replica), and the
holds a read's 429, or a budget its answer says is spent, leaves for everyone else.

Each write here is its own short transaction: the collector's batch keeps its read-backs
locked while it reads, and a hold other replicas cannot see until then would be no hold."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from chorus.common.db import Database, Executor
from chorus.common.failures import RateLimited, RateScope
from chorus.common.kinds import Network
from chorus.common.ratelimits import (
    BudgetScope,
    ReadHold,
    ReadScopeOf,
    read_hold,
    read_holds_on,
)
from chorus.common.readpace import reserve
from chorus.common.retry import clamp_rate_wait
from chorus.common.telemetry import READ_RATE_LIMITS, READBACKS_DEFERRED
from chorus.networks import RateBudget, ReadBudget

__all__ = ["Deferred", "ReadBudgets", "deferred", "host_of"]

log = logging.getLogger(__name__)

# A network with no declared read budget: its 429s still hold the token's account.
_UNDECLARED = ReadBudget(scope=BudgetScope.ACCOUNT, shared_with_posting=False)


def host_of(base_url: str) -> str:
    return (urlsplit(base_url).hostname or "").lower()


@dataclass(frozen=True, slots=True)
class Deferred:
    """Read-backs that wait, without spending an attempt, until `until`."""

    until: datetime
    why: str


class ReadBudgets:
    def __init__(self, *, db: Database, budgets: Mapping[Network, ReadBudget | None]) -> None:
        self._db = db
        self._budgets = budgets
        # Holds this process recorded since its last look at the table: a group read later in
        # the same round sees them without asking the database again.
        self._recorded: dict[tuple[Network, str], tuple[datetime, str]] = {}
        # Every series exists from the start, at 0: a rate over it reads 0, not "no data".
        for network in budgets:
            for kind in ("rate_limited", "budget_spent"):
                READ_RATE_LIMITS.labels(network.value, kind)
            for kind in ("held", "paced"):
                READBACKS_DEFERRED.labels(network.value, kind)

    def budget(self, network: Network) -> ReadBudget:
        return self._budgets.get(network) or _UNDECLARED

    def scope(self, network: Network, account_id: uuid.UUID, base_url: str) -> ReadScopeOf:
        budget = self.budget(network)
        return ReadScopeOf(
            network=network,
            scope=budget.scope,
            shared_with_posting=budget.shared_with_posting,
            account_id=account_id,
            server=host_of(base_url),
        )

    async def held(
        self, session: Executor, scopes: Sequence[ReadScopeOf]
    ) -> dict[ReadScopeOf, tuple[datetime, str]]:
        self._recorded.clear()
        return await read_holds_on(session=session, scopes=scopes)

    def recorded(self, scope: ReadScopeOf) -> tuple[datetime, str] | None:
        """A hold on `scope` recorded by this process in this round, if still on."""
        now = datetime.now(UTC)
        hits = [
            h
            for k in scope.keys_to_check()
            if (h := self._recorded.get((scope.network, k))) is not None and h[0] > now
        ]
        return max(hits) if hits else None

    async def take(self, scope: ReadScopeOf, *, posts: int, authors: int) -> Deferred | None:
        """Count a read of `posts` posts by `authors` accounts against its budget; None when
        it may go now."""
        budget = self.budget(scope.network)
        if budget.requests is None:
            return None
        async with self._db.sessions.begin() as session:
            next_window = await reserve(
                session=session,
                network=scope.network,
                key=scope.key(),
                cost=budget.cost(posts, authors),
                limit=budget.requests,
                window=budget.window,
            )
        if next_window is None:
            return None
        return Deferred(next_window, f"{scope.network.value} read budget used for this window")

    async def rate_limited(self, scope: ReadScopeOf, exc: RateLimited) -> Deferred:
        """The network said wait: everyone's reads (and posts, where shared) on that scope
        wait until its reset."""
        READ_RATE_LIMITS.labels(scope.network.value, "rate_limited").inc()
        until = clamp_rate_wait(exc.until, now=datetime.now(UTC))
        await self._hold(scope, app=exc.scope is RateScope.APP, until=until, why=exc.reason)
        return Deferred(until, exc.reason)

    async def heard(self, scope: ReadScopeOf, budgets: Sequence[RateBudget]) -> None:
        """A budget the read's answers say is spent holds its scope until it refills, so the
        next read does not run into the 429."""
        now = datetime.now(UTC)
        for b in budgets:
            if b.remaining == 0 and b.reset_at is not None and b.reset_at > now:
                READ_RATE_LIMITS.labels(scope.network.value, "budget_spent").inc()
                until = clamp_rate_wait(b.reset_at, now=now)
                why = f"{scope.network.value} {b.scope.value} read budget spent"
                await self._hold(scope, app=b.scope is RateScope.APP, until=until, why=why)

    async def _hold(self, scope: ReadScopeOf, *, app: bool, until: datetime, why: str) -> None:
        hold = ReadHold(scope.network, scope.key(app=app), until, why)
        known = self._recorded.get((hold.network, hold.key))
        if known is None or known[0] < until:
            self._recorded[(hold.network, hold.key)] = (until, why)
        try:
            async with self._db.sessions.begin() as session:
                await read_hold(session=session, holds=[hold])
        except Exception as exc:
            # Best effort: a lost hold costs one more 429 on the next read, nothing else.
            log.warning("could not record a read hold: %s", exc)


def deferred(network: Network, kind: str, count: int) -> None:
    """Count read-backs put off by a hold or by pacing (`kind`: held, paced)."""
    READBACKS_DEFERRED.labels(network.value, kind).inc(count)
