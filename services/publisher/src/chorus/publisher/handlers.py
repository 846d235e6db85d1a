"""Posting the shares a message names: each claimed (intent recorded), attempted and recorded
on its own, all of them at once within the publisher's posts in flight.

The shares table, not the message, is the source of truth: a message only says "look at these
shares now". A share with nothing to do (an outcome already, a wait until later, or a live
attempt holding the claim) is skipped; if a live attempt dies, its lease runs out and the
scheduler's sweeper plans the share again. Claims, the still-wanted check and outcomes of
concurrent shares are written in batches, a bad share's failing alone (`Batcher.isolate`).

A message is acked once every share in it has its outcome committed (or was skipped). If one
share's handling fails unexpectedly, the others still end and are recorded, then the message
goes back to the queue: its redelivery finds them done and tries only the failed one, so a
poison share can run the message into its delivery limit, but by then every other share in
it has its outcome, and the sweeper takes the poison share back. When the service stops, no
share of a message is started any more; those started end, and the message goes back for
another replica to do the rest.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from chorus.common.batching import Batcher
from chorus.common.credentials import (
    AccountUnavailable,
    Credentials,
    Keyring,
    mark_needs_reauth,
    refresh_credentials,
)
from chorus.common.db import Database, is_outage
from chorus.common.failures import AuthorizationFailure, MessageRejected, RetryLater
from chorus.common.http import NetworkHttp
from chorus.common.messages import (
    MAX_EVENTS_PER_MESSAGE,
    ShareRequested,
    SharesRequested,
    SharesRequests,
)
from chorus.common.ratelimits import Hold, hold
from chorus.common.retry import MAX_RATE_WAIT
from chorus.common.shares import (
    Claim,
    ClaimedShare,
    Failed,
    Outcome,
    claim_many,
    record_outcomes,
    still_wanted,
)
from chorus.common.telemetry import SHARES_FAILED, SHARES_OUTCOMES
from chorus.common.tracing import current_traceparent, span
from chorus.networks import NetworkClient, NetworkSpec, app_for, spec_for
from chorus.publisher.attempt import AccountHooks, Attempts, Renew
from chorus.publisher.links import TrackedLinks
from chorus.publisher.media import ImageFetcher
from chorus.publisher.settings import PublisherSettings

__all__ = ["PublisherHandlers", "SharesUnfinished"]

log = logging.getLogger(__name__)

_LABELS = {
    "Published": "published",
    "Failed": "failed",
    "Cancelled": "cancelled",
    "Manual": "manual",
}


def _isolate(exc: Exception) -> bool:
    return not is_outage(exc)


class SharesUnfinished(Exception):
    """Some shares of a message failed unexpectedly; the others have their outcome."""


def _label(outcome: Outcome) -> str:
    name = type(outcome).__name__
    if name == "Delayed":
        return "delayed" if getattr(outcome, "rate_limited", False) else "retried"
    return _LABELS[name]


class PublisherHandlers:
    def __init__(
        self,
        *,
        db: Database,
        spec: NetworkSpec,
        client: NetworkClient,
        keyring: Keyring,
        claim_lease: timedelta,
        attempt_deadline: timedelta,
        images: ImageFetcher,
        longest_rate_wait: timedelta = MAX_RATE_WAIT,
        links: TrackedLinks | None = None,
        in_flight: int = 200,
        stopping: asyncio.Event | None = None,
        published_per_message: int = MAX_EVENTS_PER_MESSAGE,
    ) -> None:
        """`links` None: posts carry the campaign's URL, untracked. `in_flight`: shares
        attempted at once, over all messages. `stopping` set: no share is started any more.
        `published_per_message`: see `PublisherSettings`."""
        self.db = db
        self._published_per_message = published_per_message
        self._slots = asyncio.Semaphore(in_flight)
        self._stopping = stopping or asyncio.Event()
        self._links = links
        self.keyring = keyring
        # Refreshes under way, kept alive past a cancelled attempt (see `_refresh`).
        self._refreshing: set[asyncio.Task[Credentials]] = set()
        self.claim_lease = claim_lease
        self.network = spec.network
        self._claims: Batcher[tuple[uuid.UUID, uuid.UUID], ClaimedShare | None] = Batcher(
            flush=self._claim_many, isolate=_isolate
        )
        self._wanted: Batcher[Claim, str | None] = Batcher(
            flush=self._still_wanted, isolate=_isolate
        )
        self._outcomes: Batcher[tuple[Outcome, str | None], bool] = Batcher(
            flush=self._record_many, isolate=_isolate
        )
        self._holds: Batcher[Hold, None] = Batcher(flush=self._hold_many, isolate=_isolate)
        self.attempts = Attempts(
            spec=spec,
            client=client,
            keyring=keyring,
            deadline=attempt_deadline,
            still_wanted=self._wanted.submit,
            accounts=AccountHooks(
                hold=self._holds.submit,
                refresh=self._refresh,
                needs_reauth=self._needs_reauth,
            ),
            images=images,
            longest_rate_wait=longest_rate_wait,
        )

    @classmethod
    def from_settings(
        cls,
        settings: PublisherSettings,
        *,
        db: Database,
        http: NetworkHttp,
        keyring: Keyring,
        stop: asyncio.Event,
    ) -> PublisherHandlers:
        """The handlers as the service's settings say: every setting of its work reaches them."""
        spec = spec_for(settings.network)
        links = None
        if settings.links_base_url is not None:
            key = settings.links_key.get_secret_value().encode()
            links = TrackedLinks(base_url=settings.links_base_url, key=key)
        return cls(
            db=db,
            spec=spec,
            client=spec.client(http, app_for(spec, settings.network_apps.get(settings.network))),
            keyring=keyring,
            claim_lease=timedelta(seconds=settings.claim_lease_seconds),
            attempt_deadline=timedelta(seconds=settings.attempt_deadline_seconds),
            images=ImageFetcher(http, max_bytes=spec.max_image_bytes),
            longest_rate_wait=timedelta(seconds=settings.longest_rate_wait_seconds),
            links=links,
            in_flight=settings.prefetch,
            stopping=stop,
            published_per_message=settings.published_per_message,
        )

    async def _hold_many(self, holds: Sequence[Hold]) -> list[None]:
        async with self.db.engine.begin() as session:
            await hold(session=session, holds=holds)
        return [None] * len(holds)

    async def _refresh(self, share: ClaimedShare, renew: Renew) -> Credentials:
        # A rotating refresh token (X) is spent the moment the network answers: the new one
        # must be committed even if the attempt's deadline cancels us meanwhile, or the account
        # is left with a dead token. The refresh runs on, shielded, to its commit.
        task = asyncio.ensure_future(
            refresh_credentials(
                db=self.db,
                keyring=self.keyring,
                account_id=share.claim.account_id,
                seen=share.sealed_credentials,
                renew=renew,
            )
        )
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)
        # Its failure, if nobody waits for it any more, is the next attempt's to meet.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            return await asyncio.shield(task)
        except AccountUnavailable as exc:
            raise AuthorizationFailure(str(exc)) from exc

    async def _needs_reauth(self, account_id: uuid.UUID, reason: str) -> None:
        async with self.db.sessions.begin() as session:
            await mark_needs_reauth(session=session, account_id=account_id, reason=reason)

    async def _claim_many(
        self, requests: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[ClaimedShare | None]:
        async with self.db.engine.begin() as session:
            claimed = await claim_many(session=session, requests=requests, lease=self.claim_lease)
            if self._links is None:
                return claimed
            return await self._links.apply(session=session, shares=claimed)

    async def _still_wanted(self, claims: Sequence[Claim]) -> list[str | None]:
        # One read-only statement: no transaction around it, so no BEGIN and COMMIT round trips
        # (two of its three, in every batch of attempts).
        async with self.db.engine.connect() as connection:
            reading = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await still_wanted(session=reading, claims=claims)

    async def _record_many(self, outcomes: Sequence[tuple[Outcome, str | None]]) -> list[bool]:
        async with self.db.engine.begin() as session:
            return await record_outcomes(
                session=session,
                outcomes=[o for o, _ in outcomes],
                traces={o.claim.share_id: trace for o, trace in outcomes if trace is not None},
                published_per_message=self._published_per_message,
            )

    async def requested(self, request: SharesRequests) -> None:
        """A message of the publisher queue, in either form."""
        await self.shares_requested(request.batch())

    async def share_requested(self, request: ShareRequested) -> None:
        await self.shares_requested(request.as_batch())

    async def shares_requested(self, request: SharesRequested) -> None:
        if request.network != self.network:
            raise MessageRejected(
                f"{request.network.value} shares on the {self.network.value} queue"
            )
        started: list[asyncio.Task[None]] = []
        try:
            for share_id in request.share_ids:
                await self._slots.acquire()
                if self._stopping.is_set():
                    self._slots.release()
                    break
                task = asyncio.ensure_future(self._share(share_id, request.org_id))
                task.add_done_callback(lambda _: self._slots.release())
                started.append(task)
            # Each share ends on its own: one failing must not cut the others short.
            results = await asyncio.gather(*started, return_exceptions=True)
        except BaseException:
            # Cancelled (the connection dropped, or the drain ran out): the message will be
            # redelivered, and each share is safe to stop where it is (see the module's doc).
            for task in started:
                task.cancel()
            raise
        tried = zip(request.share_ids[: len(started)], results, strict=True)
        failed = [(share_id, r) for share_id, r in tried if isinstance(r, BaseException)]
        for share_id, exc in failed:
            log.error("share %s failed unexpectedly", share_id, exc_info=exc)
        if failed:
            raise SharesUnfinished(
                f"{len(failed)} of the message's {len(request.share_ids)} shares failed "
                "unexpectedly; the others have their outcome"
            ) from failed[0][1]
        if len(started) < len(request.share_ids):
            raise RetryLater(
                f"stopping: {len(request.share_ids) - len(started)} shares not started"
            )

    async def _share(self, share_id: uuid.UUID, org_id: uuid.UUID) -> None:
        network = {"chorus.network": self.network.value}
        with span("claim share", attributes=network):
            share = await self._claims.submit((share_id, org_id))
        if share is None:
            return
        with span("attempt share", attributes=network):
            outcome = await self.attempts.run(share)
        if outcome is None:
            return
        label = _label(outcome)
        with span("record outcome", attributes={**network, "chorus.outcome": label}):
            # Outcomes are written in batches: each carries its own trace to its event.
            recorded = await self._outcomes.submit((outcome, current_traceparent()))
        if recorded:
            SHARES_OUTCOMES.labels(self.network.value, label).inc()
            if isinstance(outcome, Failed):
                SHARES_FAILED.labels(self.network.value, outcome.kind.value).inc()
