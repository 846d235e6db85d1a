"""Reading counts back from the networks: due read-backs in batches, grouped the way each
network's spec says its reads are authorised (per server, or per account), always within one
organisation, so one organisation's token never reads another's posts.

One bad read never stops the others: each group succeeds or fails on its own, a share is read
once however many of its read-backs fell due together (after an outage), and anything
unexpected puts only that group back for later, counting towards its attempts.

Reads stay within each network's read budget (`chorus.metrics.budgets`): a group whose every
token is held is not read, a read that would overspend the budget's window waits for the next
one, and a 429 holds its scope for every replica. Waiting on a budget never spends an attempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from chorus.common.credentials import InvalidCredentialsKey, Keyring
from chorus.common.db import Database
from chorus.common.failures import PermanentFailure, RateLimited, TransientFailure
from chorus.common.kinds import Network
from chorus.common.ratelimits import ReadScopeOf
from chorus.common.retry import backoff
from chorus.common.telemetry import NETWORK_REQUEST_SECONDS
from chorus.common.wakeup import Wakeup, wait_for_work
from chorus.metrics.budgets import Deferred, ReadBudgets, deferred, host_of
from chorus.metrics.samples import store_samples
from chorus.networks import (
    AccountAccess,
    NetworkClient,
    PostCounts,
    RateBudget,
    ReadbackScope,
    ReadBudget,
    specs,
)

__all__ = ["Collector"]

log = logging.getLogger(__name__)

# Tokens tried per group before its reads count as failed: one revoked token of a colleague
# must not cost the organisation's other posts on that server their read-backs.
TOKENS_PER_GROUP = 3

_DUE = text(
    """
    SELECT r.id, r.attempts, s.id AS share_id, s.org_id, s.campaign_id, s.network,
           s.remote_id, a.id AS account_id, a.base_url, a.handle, a.remote_account_id,
           a.credentials, a.status = 'connected' AS connected
    FROM metric_readbacks r
    JOIN shares s ON s.id = r.share_id
    JOIN accounts a ON a.id = s.account_id
    WHERE r.done_at IS NULL AND r.due_at <= now()
    ORDER BY r.due_at
    LIMIT :limit
    FOR UPDATE OF r SKIP LOCKED
    """
)
_DONE = text("UPDATE metric_readbacks SET done_at = now() WHERE id = ANY(:ids)")
_LATER = text(
    "UPDATE metric_readbacks SET attempts = attempts + 1, due_at = :due WHERE id = ANY(:ids)"
)
# A budget's wait: the read-backs move, their attempts stay.
_WAIT = text("UPDATE metric_readbacks SET due_at = :due WHERE id = ANY(:ids)")
_PRUNE_DONE = text("DELETE FROM metric_readbacks WHERE done_at < now() - CAST(:keep AS interval)")
_PRUNE_SAMPLES = text("DELETE FROM metric_samples WHERE taken_at < now() - CAST(:keep AS interval)")


@dataclass
class _Group:
    """The due read-backs one set of reads serves: one organisation, one network, one server
    (or one account, where only the author may read)."""

    network: Network
    rows: list[Any]

    def shares(self) -> dict[Any, Any]:
        """One row per share (its read-backs due together are read once)."""
        return {row.share_id: row for row in self.rows}


@dataclass
class _Result:
    samples: list[dict[str, Any]]
    done: list[int]
    later: list[int]
    attempts: int = 0
    waiting: Deferred | None = None


@dataclass(frozen=True)
class _Token:
    """One account's token, and the read budget reading with it spends."""

    access: AccountAccess
    scope: ReadScopeOf


class _HeldBy(Exception):
    """A read with another account's token than the group's (its followers) was told to
    wait: that account's scope is the one to hold."""

    def __init__(self, scope: ReadScopeOf, cause: RateLimited) -> None:
        super().__init__(cause.reason)
        self.scope = scope
        self.cause = cause


class Collector:
    def __init__(
        self,
        *,
        db: Database,
        clients: Mapping[Network, NetworkClient],
        keyring: Keyring,
        wakeup: Wakeup,
        batch_size: int,
        max_attempts: int,
        poll_seconds: float,
        keep_done: timedelta = timedelta(days=1),
        keep_samples: timedelta = timedelta(days=400),
        read_budgets: Mapping[Network, ReadBudget | None] | None = None,
    ) -> None:
        self._db = db
        self._clients = clients
        self._keyring = keyring
        self._wakeup = wakeup
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds
        self._keep_done = keep_done
        self._keep_samples = keep_samples
        # The networks' own declared budgets unless a test (or an operator) says otherwise.
        self._budgets = ReadBudgets(
            db=db,
            budgets=read_budgets
            if read_budgets is not None
            else {n: s.read_budget for n, s in specs().items()},
        )

    async def collect_once(self) -> int:
        """Do one batch of due read-backs; returns how many were due."""
        async with self._db.sessions.begin() as session:
            rows = (await session.execute(_DUE, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            groups = _grouped(rows)
            # The scopes come from the rows alone: each group's tokens are opened (decrypted)
            # once, when it is read, not here as well.
            scopes = {
                self._budgets.scope(g.network, r.account_id, r.base_url)
                for g in groups
                for r in g.rows
                if r.connected
            }
            held = await self._budgets.held(session, list(scopes))
            results = await asyncio.gather(
                *(self._read_group(g, held) for g in groups), return_exceptions=True
            )
            taken_at = datetime.now(UTC)
            samples: list[dict[str, Any]] = []
            done: list[int] = []
            for group, result in zip(groups, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, Exception):
                        raise result
                    log.error(
                        "read-back of %d posts failed unexpectedly",
                        len(group.rows),
                        exc_info=result,
                    )
                    result = self._failed(group, f"{type(result).__name__}")
                samples += [{**s, "taken_at": taken_at} for s in result.samples]
                done += result.done
                if result.later:
                    due = datetime.now(UTC) + backoff(result.attempts + 1, base=30.0, cap=3600.0)
                    await session.execute(_LATER, {"ids": result.later, "due": due})
                if result.waiting is not None:
                    ids = [r.id for r in group.rows]
                    await session.execute(_WAIT, {"ids": ids, "due": result.waiting.until})
            await store_samples(session, samples)
            if done:
                await session.execute(_DONE, {"ids": done})
        return len(rows)

    def _failed(self, group: _Group, reason: str) -> _Result:
        """The group's read-backs again later, or done without a sample once out of attempts."""
        attempts = max(r.attempts for r in group.rows)
        ids = [r.id for r in group.rows]
        if attempts + 1 >= self._max_attempts:
            log.warning("giving up %d read-backs on %s: %s", len(ids), group.network.value, reason)
            return _Result(samples=[], done=ids, later=[])
        return _Result(samples=[], done=[], later=ids, attempts=attempts)

    def _tokens(self, network: Network, rows: Sequence[Any]) -> list[_Token]:
        """Credentials of connected accounts among `rows`, the posts' own first, each with
        the read budget it spends."""
        tokens: list[_Token] = []
        seen: set[Any] = set()
        for row in rows:
            if not row.connected or row.account_id in seen:
                continue
            seen.add(row.account_id)
            try:
                credentials = self._keyring.open(row.credentials)
            except InvalidCredentialsKey:
                log.error("credentials of account %s cannot be opened", row.account_id)
                continue
            access = AccountAccess(
                base_url=row.base_url,
                credentials=credentials,
                handle=row.handle,
                remote_account_id=row.remote_account_id,
            )
            tokens.append(
                _Token(access, self._budgets.scope(network, row.account_id, row.base_url))
            )
        return tokens

    async def _read_group(
        self, group: _Group, held: Mapping[ReadScopeOf, tuple[datetime, str]]
    ) -> _Result:
        client = self._clients.get(group.network)
        shares = group.shares()
        # Consent withdrawn: that colleague is no longer measured.
        live = [r for r in shares.values() if r.connected]
        tokens = self._tokens(group.network, live)
        if client is None or not tokens:
            return _Result(samples=[], done=[r.id for r in group.rows], later=[])
        free = [t for t in tokens if t.scope not in held][:TOKENS_PER_GROUP]
        if not free:
            # Every token is held: nothing is asked of the network before the first hold ends.
            until, why = min(held[t.scope] for t in tokens)
            deferred(group.network, "held", len(group.rows))
            return self._waiting(group, Deferred(until, why))
        authors = len({r.account_id for r in live})
        waits: list[tuple[Deferred, str]] = []
        failure: Exception | None = None
        for token in free:
            if (fresh := self._budgets.recorded(token.scope)) is not None:
                # Another group of this round was just told to wait on the same budget.
                waits.append((Deferred(*fresh), "held"))
                continue
            wait = await self._budgets.take(token.scope, posts=len(live), authors=authors)
            if wait is not None:
                waits.append((wait, "paced"))
                continue
            heard: list[RateBudget] = []
            try:
                with NETWORK_REQUEST_SECONDS.labels(group.network.value, "read").time():
                    counts = await client.read_counts(
                        account=token.access, remote_ids=[r.remote_id for r in live], budgets=heard
                    )
                    followers = await self._followers(client, group.network, live, counts, held)
            except PermanentFailure as exc:
                failure = exc  # this token cannot read; another of the organisation may
                continue
            except RateLimited as exc:
                wait = await self._budgets.rate_limited(token.scope, exc)
                return self._waiting(group, wait)
            except _HeldBy as exc:
                wait = await self._budgets.rate_limited(exc.scope, exc.cause)
                return self._waiting(group, wait)
            except TransientFailure as exc:
                return self._failed(group, str(exc))
            await self._budgets.heard(token.scope, heard)
            samples = [
                _sample(r, counts.get(r.remote_id), followers.get(r.account_id)) for r in live
            ]
            return _Result(samples=samples, done=[r.id for r in group.rows], later=[])
        if waits:
            # Some token may still read once its wait ends; a failed one changes nothing.
            wait, kind = min(waits, key=lambda w: w[0].until)
            deferred(group.network, kind, len(group.rows))
            return self._waiting(group, wait)
        log.warning("read-backs on %s impossible: %s", group.network.value, failure)
        return _Result(samples=[], done=[r.id for r in group.rows], later=[])

    def _waiting(self, group: _Group, wait: Deferred) -> _Result:
        log.info(
            "%d read-backs on %s wait until %s: %s",
            len(group.rows),
            group.network.value,
            wait.until.isoformat(),
            wait.why,
        )
        return _Result(samples=[], done=[], later=[], waiting=wait)

    async def _followers(
        self,
        client: NetworkClient,
        network: Network,
        rows: list[Any],
        counts: Mapping[str, PostCounts],
        held: Mapping[ReadScopeOf, tuple[datetime, str]],
    ) -> dict[Any, int | None]:
        """Followers per account: from the posts where the network reports them, otherwise
        one request per account, with that account's own token (unknown, None, for an account
        whose budget is held)."""
        known: dict[Any, int | None] = {}
        for row in rows:
            found = counts.get(row.remote_id)
            if found is not None and found.author_followers is not None:
                known[row.account_id] = found.author_followers
        unknown = {r.account_id: r for r in rows if r.account_id not in known}
        asks = [
            (k, t[0])
            for k, row in unknown.items()
            if (t := self._tokens(network, [row]))
            and t[0].scope not in held
            and self._budgets.recorded(t[0].scope) is None
        ]

        async def ask(token: _Token) -> int | None:
            try:
                return await client.read_followers(account=token.access)
            except RateLimited as exc:
                raise _HeldBy(token.scope, exc) from exc

        read = await asyncio.gather(*(ask(t) for _, t in asks))
        known.update(zip([k for k, _ in asks], read, strict=True))
        return known

    async def prune(self) -> None:
        async with self._db.sessions.begin() as session:
            await session.execute(_PRUNE_DONE, {"keep": self._keep_done})
            await session.execute(_PRUNE_SAMPLES, {"keep": self._keep_samples})

    async def run(self, stop: asyncio.Event) -> None:
        rounds = 0
        while not stop.is_set():
            try:
                due = await self.collect_once()
                rounds += 1
                if rounds % 720 == 1:
                    await self.prune()
            except Exception:
                log.exception("read-back round failed; retrying")
                due = 0
            if due < self._batch_size:
                await wait_for_work(stop, self._wakeup, self._poll_seconds)


def _grouped(rows: Sequence[Any]) -> list[_Group]:
    groups: dict[tuple[Any, ...], _Group] = {}
    for row in rows:
        network = Network(row.network)
        spec = specs().get(network)
        if spec is None or spec.readback_scope is ReadbackScope.ACCOUNT:
            scope: Any = row.account_id
        else:
            scope = host_of(row.base_url)
        key = (row.org_id, network, scope)
        if key not in groups:
            groups[key] = _Group(network, [])
        groups[key].rows.append(row)
    return list(groups.values())


def _sample(row: Any, counts: PostCounts | None, followers: int | None) -> dict[str, Any]:
    # A post that is gone (deleted by its author) still has a sample: followers, no counts.
    return {
        "org_id": row.org_id,
        "share_id": row.share_id,
        "campaign_id": row.campaign_id,
        "network": row.network,
        "reshares": counts.reshares if counts else None,
        "likes": counts.likes if counts else None,
        "replies": counts.replies if counts else None,
        "impressions": counts.impressions if counts else None,
        "followers": followers,
    }
