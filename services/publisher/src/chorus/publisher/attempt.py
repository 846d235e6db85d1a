"""One attempt at a claimed share: open its credentials, render it for its network, look it up
first if an earlier attempt may have posted it, check it is still wanted, post, and say what
came of it as an `Outcome`. Nothing here writes to the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from chorus.common.credentials import InvalidCredentialsKey, Keyring
from chorus.common.failures import PermanentFailure, RateLimited, TransientFailure
from chorus.common.messages import Observation
from chorus.common.retry import (
    MAX_RATE_WAITS,
    PUBLISH_ATTEMPTS,
    backoff,
    clamp_rate_wait,
)
from chorus.common.shares import (
    Cancelled,
    Claim,
    ClaimedShare,
    Delayed,
    Failed,
    Outcome,
    Published,
)
from chorus.common.telemetry import NETWORK_REQUEST_SECONDS
from chorus.networks import (
    AccountAccess,
    Content,
    Idempotency,
    NetworkClient,
    NetworkSpec,
    PostCounts,
    PostResult,
    RenderedPost,
)

__all__ = ["Attempts"]

log = logging.getLogger(__name__)

# How long before the end of a network's idempotency window a retry stops trusting the key.
KEY_SAFETY_MARGIN = timedelta(minutes=15)

WantedCheck = Callable[[Claim], Awaitable[str | None]]


class _NotWanted(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _OurOwnFailure(Exception):
    """Our database failed us mid-attempt (not the network): nothing was sent, no attempt is
    spent, and the error goes to the consumer, which hands the message back."""


class Attempts:
    def __init__(
        self,
        *,
        spec: NetworkSpec,
        client: NetworkClient,
        keyring: Keyring,
        deadline: timedelta,
        still_wanted: WantedCheck,
    ) -> None:
        self.spec = spec
        self.client = client
        self.keyring = keyring
        # Every attempt ends well inside its claim's lease, so no other attempt can take the
        # share over while this one may still be sending.
        self.deadline = deadline
        # Asked just before posting: None if the share should still go out, else why not.
        self._still_wanted = still_wanted

    async def run(self, share: ClaimedShare) -> Outcome | None:
        """What this attempt came to; None if the share is no longer this attempt's."""
        claim = share.claim
        if not share.account_connected:
            return Cancelled(claim, "consent withdrawn: the account was disconnected")
        try:
            credentials = self.keyring.open(share.sealed_credentials)
        except InvalidCredentialsKey:
            log.error("credentials of account %s cannot be opened", claim.account_id)
            return Failed(claim, "stored credentials cannot be opened (was the key changed?)", 0)
        access = AccountAccess(
            base_url=share.base_url,
            credentials=credentials,
            handle=share.handle,
            remote_account_id=share.remote_account_id,
        )
        post = self.spec.render(Content(message=share.message, url=share.url, title=share.title))
        try:
            async with asyncio.timeout(self.deadline.total_seconds()):
                result = await self._look_up_or_post(share, access, post)
        except _NotWanted as exc:
            return None if exc.reason == "claim lost" else Cancelled(claim, exc.reason)
        except _OurOwnFailure as exc:
            raise exc.__cause__ or exc from None
        except RateLimited as exc:
            return self._rate_limited(share, exc)
        except TransientFailure as exc:
            return self._retry_later(share, exc.reason, ambiguous=exc.ambiguous)
        except PermanentFailure as exc:
            return Failed(claim, exc.reason, spent=1)
        except TimeoutError:
            return self._retry_later(
                share, f"the attempt outlived its {self.deadline.total_seconds():g} s", True
            )
        except Exception as exc:
            # Unexpected (a bug, or an answer no client anticipated): it spends an attempt like
            # any failure, so attempts run out into a failure with the reason, never a loop.
            log.exception("unexpected error posting share %s", claim.share_id)
            return self._retry_later(share, f"unexpected {type(exc).__name__}: {exc}"[:300], True)
        return Published(
            claim, result.remote_id, result.url, observed=_observation(result.observed)
        )

    async def _look_up_or_post(
        self, share: ClaimedShare, access: AccountAccess, post: RenderedPost
    ) -> PostResult:
        """Post, unless an earlier attempt may have posted and the network would not recognise
        it: then the post is looked up first, and only posted if it is not there. A duplicate
        on a colleague's timeline is the worst outcome we have."""
        network = self.spec.network.value
        if self._must_look_up(share):
            with NETWORK_REQUEST_SECONDS.labels(network, "find_post").time():
                found = await self.client.find_post(
                    account=access, post=post, since=share.first_attempt_at
                )
            if found is not None:
                log.info("share %s was already posted as %s", share.claim.share_id, found.remote_id)
                return found
        # Consent withdrawn or the campaign cancelled since the claim: not posted.
        try:
            reason = await self._still_wanted(share.claim)
        except Exception as exc:
            raise _OurOwnFailure() from exc
        if reason is not None:
            raise _NotWanted(reason)
        with NETWORK_REQUEST_SECONDS.labels(network, "post").time():
            return await self.client.post(account=access, post=post, key=share.idempotency_key)

    def _must_look_up(self, share: ClaimedShare) -> bool:
        if not share.attempted_before:
            return False
        if self.spec.idempotency is Idempotency.RECORD_KEY:
            return False  # writing the same record key again is the same post
        window = self.spec.idempotency_window
        if self.spec.idempotency is Idempotency.NONE or window is None:
            return True
        # Keys are kept "up to" the window: look up well before its end.
        return datetime.now(UTC) - share.first_attempt_at > window - KEY_SAFETY_MARGIN

    def _retry_later(self, share: ClaimedShare, reason: str, ambiguous: bool) -> Outcome:
        attempt = share.attempts + 1
        if attempt >= PUBLISH_ATTEMPTS:
            return Failed(share.claim, f"gave up after {attempt} attempts: {reason}", spent=1)
        wait = backoff(attempt)
        if ambiguous:
            # The first request may still be under way at the network: let it finish first.
            wait = max(wait, self.spec.settle_after_ambiguous)
        return Delayed(share.claim, datetime.now(UTC) + wait, reason, spent=1)

    def _rate_limited(self, share: ClaimedShare, exc: RateLimited) -> Outcome:
        if share.rate_waits >= MAX_RATE_WAITS:
            return Failed(
                share.claim,
                f"gave up after waiting on the rate limit {share.rate_waits} times: {exc.reason}",
                spent=0,
            )
        now = datetime.now(UTC)
        until = clamp_rate_wait(exc.until, now=now)
        return Delayed(share.claim, until, exc.reason, spent=0, rate_limited=True)


def _observation(counts: PostCounts | None) -> Observation | None:
    if counts is None:
        return None
    return Observation(
        reshares=counts.reshares,
        likes=counts.likes,
        replies=counts.replies,
        impressions=counts.impressions,
        followers=counts.author_followers,
    )
