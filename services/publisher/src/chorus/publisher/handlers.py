"""Posting one share: claim it (intent recorded), call the network, record the outcome.

Exactly once on the network: the idempotency key is fixed when the share is staged, so a
redelivery after a crash, a timeout after the post was stored, or a duplicate message all
reach the network with the same key, and the network returns the original post.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from chorus.common.batching import Batcher
from chorus.common.credentials import CredentialsBox, InvalidCredentialsKey
from chorus.common.db import Database
from chorus.common.failures import (
    MessageRejected,
    PermanentFailure,
    RateLimited,
    RetryLater,
    TransientFailure,
)
from chorus.common.messages import ShareRequested
from chorus.common.networks import AccountAccess, NetworkClient, PostResult, render_post
from chorus.common.retry import PUBLISH_ATTEMPTS, backoff
from chorus.common.telemetry import NETWORK_REQUEST_SECONDS, SHARES_OUTCOMES
from chorus.publisher import shares
from chorus.publisher.shares import ShareJob, Unclaimed

__all__ = ["PublisherHandlers"]

log = logging.getLogger(__name__)

# How long before the end of a network's idempotency window a retry stops trusting the key.
KEY_SAFETY_MARGIN = timedelta(minutes=15)


class PublisherHandlers:
    """Handlers for one network. Claims and outcomes of concurrent handlers are written in
    batches (one statement for many shares); each message is still acked only after its own
    outcome has committed."""

    def __init__(
        self,
        *,
        db: Database,
        client: NetworkClient,
        credentials: CredentialsBox,
        claim_lease: timedelta,
    ) -> None:
        self.db = db
        self.client = client
        self.credentials = credentials
        # Longer than any one attempt takes: until then a claimed share is someone's.
        self.claim_lease = claim_lease
        self._claims: Batcher[tuple[uuid.UUID, uuid.UUID], ShareJob | Unclaimed] = Batcher(
            flush=self._claim_many
        )
        self._published: Batcher[tuple[ShareJob, PostResult], None] = Batcher(
            flush=self._publish_many
        )

    async def _claim_many(
        self, requests: Sequence[tuple[uuid.UUID, uuid.UUID]]
    ) -> list[ShareJob | Unclaimed]:
        async with self.db.sessions.begin() as session:
            return await shares.claim_many(
                session=session, requests=requests, lease=self.claim_lease
            )

    async def _publish_many(self, outcomes: Sequence[tuple[ShareJob, PostResult]]) -> list[None]:
        async with self.db.sessions.begin() as session:
            return await shares.mark_published_many(session=session, outcomes=outcomes)

    async def share_requested(self, request: ShareRequested) -> None:
        if request.network != self.client.network:
            raise MessageRejected(
                f"{request.network.value} share on the {self.client.network.value} queue"
            )
        job = await self._claims.submit((request.share_id, request.org_id))
        if job is Unclaimed.IN_PROGRESS:
            # A duplicate delivery while an attempt may still be running: after it, this one
            # will find the outcome (or, past the lease, take the share over).
            raise RetryLater(f"share {request.share_id} is being posted by another attempt")
        if job is Unclaimed.NOTHING_TO_DO:
            return  # Already has an outcome, or delayed until later.
        if job.account_status != "connected":
            await self._fail(job, "the account was disconnected", spent=0)
            return
        try:
            token = self.credentials.open(job.credentials)["access_token"]
        except (InvalidCredentialsKey, KeyError):
            log.error("credentials of account %s cannot be opened", job.account_id)
            await self._fail(
                job, "stored credentials cannot be opened (was the key changed?)", spent=0
            )
            return
        access = AccountAccess(
            base_url=job.base_url, access_token=token, remote_account_id=job.remote_account_id
        )
        text = render_post(network=job.network, message=job.message, url=job.url)
        network = job.network.value
        try:
            result = await self._look_up_or_post(job, access, text)
        except RateLimited as exc:
            # The network's own reset time; the share waits in the database, not here.
            SHARES_OUTCOMES.labels(network, "delayed").inc()
            async with self.db.sessions.begin() as session:
                await shares.delay(
                    session=session, job=job, until=exc.until, reason=exc.reason, spent=0
                )
        except TransientFailure as exc:
            attempt = job.attempts + 1
            if attempt >= PUBLISH_ATTEMPTS:
                await self._fail(job, f"gave up after {attempt} attempts: {exc.reason}", spent=1)
                return
            SHARES_OUTCOMES.labels(network, "retried").inc()
            async with self.db.sessions.begin() as session:
                await shares.delay(
                    session=session,
                    job=job,
                    until=datetime.now(UTC) + backoff(attempt),
                    reason=exc.reason,
                    spent=1,
                )
        except PermanentFailure as exc:
            await self._fail(job, exc.reason, spent=1)
        else:
            await self._published.submit((job, result))
            SHARES_OUTCOMES.labels(network, "published").inc()

    async def _look_up_or_post(self, job: ShareJob, access: AccountAccess, text: str) -> PostResult:
        """Post, unless an earlier attempt may have posted and the network would no longer
        recognise its idempotency key: then the post is looked up first, and only posted if
        it is not there. A duplicate on a colleague's timeline is the worst outcome we have."""
        network = job.network.value
        if self._must_look_up(job):
            with NETWORK_REQUEST_SECONDS.labels(network, "find_post").time():
                found = await self.client.find_post(
                    account=access, text=text, since=job.first_attempt_at
                )
            if found is not None:
                log.info("share %s was already posted as %s", job.share_id, found.remote_id)
                return found
        with NETWORK_REQUEST_SECONDS.labels(network, "post").time():
            return await self.client.post(
                account=access, text=text, idempotency_key=job.idempotency_key
            )

    def _must_look_up(self, job: ShareJob) -> bool:
        if not job.attempted_before:
            return False
        window = self.client.idempotency_window
        if window is None:
            return True
        # Keys are kept "up to" the window: look up well before its end.
        return datetime.now(UTC) - job.first_attempt_at > window - KEY_SAFETY_MARGIN

    async def _fail(self, job: ShareJob, reason: str, *, spent: int) -> None:
        log.warning("share %s failed: %s", job.share_id, reason)
        SHARES_OUTCOMES.labels(job.network.value, "failed").inc()
        async with self.db.sessions.begin() as session:
            await shares.fail(session=session, job=job, reason=reason, spent=spent)
