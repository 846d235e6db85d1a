"""Reading counts back from the networks: due read-backs in batches, grouped by server, so the
posts of many colleagues on one server are read in a few requests; samples store NULL for what
a network does not report."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text

from chorus.common.credentials import CredentialsBox, InvalidCredentialsKey
from chorus.common.db import Database
from chorus.common.failures import PermanentFailure, RateLimited, TransientFailure
from chorus.common.models import MetricSample
from chorus.common.networks import AccountAccess, Network, NetworkClient, PostCounts
from chorus.common.retry import backoff
from chorus.common.telemetry import NETWORK_REQUEST_SECONDS
from chorus.common.wakeup import Wakeup, wait_for_work

__all__ = ["Collector"]

log = logging.getLogger(__name__)

_DUE = text(
    """
    SELECT r.id, r.attempts, s.id AS share_id, s.org_id, s.campaign_id, s.network,
           s.remote_id, a.id AS account_id, a.base_url, a.credentials, a.status AS account_status
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


class Collector:
    def __init__(
        self,
        *,
        db: Database,
        clients: Mapping[Network, NetworkClient],
        credentials: CredentialsBox,
        wakeup: Wakeup,
        batch_size: int,
        max_attempts: int,
        poll_seconds: float,
    ) -> None:
        self._db = db
        self._clients = clients
        self._credentials = credentials
        self._wakeup = wakeup
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._poll_seconds = poll_seconds

    async def collect_once(self) -> int:
        """Do one batch of due read-backs; returns how many were due."""
        async with self._db.sessions.begin() as session:
            rows = (await session.execute(_DUE, {"limit": self._batch_size})).all()
            if not rows:
                return 0
            by_server: dict[tuple[str, str], list[Any]] = defaultdict(list)
            for row in rows:
                by_server[(row.network, row.base_url)].append(row)
            outcomes = await asyncio.gather(
                *(self._read_server(group) for group in by_server.values())
            )
            samples = [s for done, _, _ in outcomes for s in done]
            finished = [i for _, ids, _ in outcomes for i in ids]
            if samples:
                await session.execute(insert(MetricSample), samples)
            if finished:
                await session.execute(_DONE, {"ids": finished})
            for _, _, (retry_ids, attempts) in outcomes:
                if retry_ids:
                    due = datetime.now(UTC) + backoff(attempts + 1, base=30.0, cap=3600.0)
                    await session.execute(_LATER, {"ids": retry_ids, "due": due})
        return len(rows)

    def _access(self, rows: list[Any]) -> AccountAccess | None:
        """Credentials of one connected account among `rows`, to read as on that server."""
        for row in rows:
            try:
                token = self._credentials.open(row.credentials)["access_token"]
            except (InvalidCredentialsKey, KeyError):
                log.error("credentials of account %s cannot be opened", row.account_id)
                continue
            return AccountAccess(base_url=row.base_url, access_token=token)
        return None

    async def _read_server(
        self, rows: list[Any]
    ) -> tuple[list[dict[str, Any]], list[int], tuple[list[int], int]]:
        """(samples, read-backs finished, (read-backs to retry, their attempts))."""
        client = self._clients.get(Network(rows[0].network))
        # Consent withdrawn: that colleague is no longer measured.
        live = [r for r in rows if r.account_status == "connected"]
        gone = [r.id for r in rows if r.account_status != "connected"]
        access = self._access(live) if client is not None else None
        if client is None or access is None:
            return [], [r.id for r in rows], ([], 0)
        try:
            with NETWORK_REQUEST_SECONDS.labels(rows[0].network, "read").time():
                counts = await client.read_counts(
                    account=access, remote_ids=[r.remote_id for r in live]
                )
                followers = await self._followers(client, live, counts)
        except (TransientFailure, RateLimited) as exc:
            attempts = max(r.attempts for r in live)
            if attempts + 1 >= self._max_attempts:
                log.warning("giving up read-backs on %s: %s", rows[0].base_url, exc)
                return [], [r.id for r in rows], ([], 0)
            return [], gone, ([r.id for r in live], attempts)
        except PermanentFailure as exc:
            log.warning("read-backs on %s impossible: %s", rows[0].base_url, exc)
            return [], [r.id for r in rows], ([], 0)
        samples = [_sample(r, counts.get(r.remote_id), followers.get(r.account_id)) for r in live]
        return samples, [r.id for r in rows], ([], 0)

    async def _followers(
        self, client: NetworkClient, rows: list[Any], counts: Mapping[str, PostCounts]
    ) -> dict[Any, int | None]:
        """Followers per account: from the posts where the network reports them, otherwise
        one request per account."""
        known: dict[Any, int | None] = {}
        for row in rows:
            found = counts.get(row.remote_id)
            if found is not None and found.author_followers is not None:
                known[row.account_id] = found.author_followers
        unknown = {r.account_id: r for r in rows if r.account_id not in known}
        asks = [(k, a) for k, row in unknown.items() if (a := self._access([row])) is not None]
        read = await asyncio.gather(*(client.read_followers(account=a) for _, a in asks))
        known.update(zip([k for k, _ in asks], read, strict=True))
        return known

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                due = await self.collect_once()
            except Exception:
                log.exception("read-back round failed; retrying")
                due = 0
            if due < self._batch_size:
                await wait_for_work(stop, self._wakeup, self._poll_seconds)


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
