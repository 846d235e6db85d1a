"""One attempt at a claimed share: open its credentials, wait if the network said so for this
account or for the whole app, render it for its network, fetch its images, look it up first if
an earlier attempt may have posted it, check it is still wanted, post (refreshing an expired
token once), and say what came of it as an `Outcome`. Nothing here writes to the database: the
handlers own that (outcomes, rate holds, an account that must be connected again)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chorus.common.credentials import Credentials, InvalidCredentialsKey, Keyring
from chorus.common.failures import (
    AuthorizationFailure,
    FailureKind,
    PermanentFailure,
    RateLimited,
    RateScope,
    TokenExpired,
    TransientFailure,
)
from chorus.common.messages import Observation
from chorus.common.ratelimits import Hold
from chorus.common.retry import (
    MAX_RATE_WAIT,
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
    Manual,
    Outcome,
    Published,
)
from chorus.common.telemetry import NETWORK_REQUEST_SECONDS
from chorus.networks import (
    AccountAccess,
    Content,
    Idempotency,
    Image,
    MediaFile,
    NetworkClient,
    NetworkSpec,
    PostCounts,
    PostResult,
    RenderedPost,
)
from chorus.publisher.media import ImageFetcher

__all__ = ["AccountHooks", "Attempts", "Renew"]

log = logging.getLogger(__name__)

# How long before the end of a network's idempotency window a retry stops trusting the key.
KEY_SAFETY_MARGIN = timedelta(minutes=15)
# A token this close to its expiry is refreshed before the call rather than after a 401.
REFRESH_AHEAD = timedelta(minutes=5)

WantedCheck = Callable[[Claim], Awaitable[str | None]]
Renew = Callable[[Credentials], Awaitable[Credentials]]


@dataclass(frozen=True, slots=True)
class AccountHooks:
    """What an attempt asks of the database about the account, through the handlers' batches."""

    # Remember that the network said wait, for every replica.
    hold: Callable[[Hold], Awaitable[None]]
    # New credentials, under the account's row lock (a rotating refresh token works once).
    refresh: Callable[[ClaimedShare, Renew], Awaitable[Credentials]]
    # The network refused the account's authorisation: the colleague must connect it again.
    needs_reauth: Callable[[uuid.UUID, str], Awaitable[None]]


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
        accounts: AccountHooks,
        images: ImageFetcher,
        longest_rate_wait: timedelta = MAX_RATE_WAIT,
    ) -> None:
        self.spec = spec
        self.client = client
        self.keyring = keyring
        # Every attempt ends well inside its claim's lease, so no other attempt can take the
        # share over while this one may still be sending.
        self.deadline = deadline
        # Asked just before posting: None if the share should still go out, else why not.
        self._still_wanted = still_wanted
        self._accounts = accounts
        self._images = images
        self._longest_rate_wait = longest_rate_wait

    async def run(self, share: ClaimedShare) -> Outcome | None:
        """What this attempt came to; None if the share is no longer this attempt's."""
        claim = share.claim
        if share.account_status == "needs_reauth":
            return Failed(
                claim,
                "the account must be connected again: "
                f"{share.account_status_reason or 'the network refused its authorisation'}",
                spent=0,
                kind=FailureKind.AUTHORISATION,
            )
        if not share.account_connected:
            return Cancelled(claim, "consent withdrawn: the account was disconnected")
        content = Content(
            # The colleague's edit, else the campaign's variant for this network (the claim).
            message=share.message,
            url=share.url,
            title=share.title,
            description=share.description,
            images=tuple(Image(url=u, alt=a) for u, a in share.images),
        )
        link = self.spec.manual_link(share.account_kind, content)
        if link is not None:
            # No API may post for this kind of account: the colleague shares it by hand.
            return Manual(claim, link, f"{self.spec.label}: share it yourself with this link")
        try:
            credentials = self.keyring.open(share.sealed_credentials)
        except InvalidCredentialsKey:
            log.error("credentials of account %s cannot be opened", claim.account_id)
            return Failed(
                claim,
                "stored credentials cannot be opened (was the key changed?)",
                spent=0,
                kind=FailureKind.CREDENTIALS,
            )
        held = share.held
        if held is not None:
            # Another replica (or an earlier attempt) was told to wait: no call is made.
            return await self._rate_limited(share, RateLimited(held[1], until=held[0]), False)
        access = AccountAccess(
            base_url=share.base_url,
            credentials=credentials,
            handle=share.handle,
            remote_account_id=share.remote_account_id,
            kind=share.account_kind,
        )
        post = self.spec.render(content)
        try:
            async with asyncio.timeout(self.deadline.total_seconds()):
                result = await self._with_fresh_token(share, access, post)
        except _NotWanted as exc:
            return None if exc.reason == "claim lost" else Cancelled(claim, exc.reason)
        except _OurOwnFailure as exc:
            raise exc.__cause__ or exc from None
        except RateLimited as exc:
            return await self._rate_limited(share, exc, True)
        except TransientFailure as exc:
            return self._retry_later(share, exc.reason, ambiguous=exc.ambiguous)
        except AuthorizationFailure as exc:
            await self._needs_reauth(claim.account_id, exc.reason)
            return Failed(
                claim,
                f"the account must be connected again: {exc.reason}",
                spent=1,
                kind=FailureKind.AUTHORISATION,
            )
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
        await self._hold_spent_budgets(share, result)
        return Published(
            claim, result.remote_id, result.url, observed=_observation(result.observed)
        )

    async def _needs_reauth(self, account_id: uuid.UUID, reason: str) -> None:
        try:
            await self._accounts.needs_reauth(account_id, reason)
        except Exception as exc:
            raise _OurOwnFailure() from exc

    async def _refreshed(self, share: ClaimedShare, access: AccountAccess) -> AccountAccess:
        async def renew(current: Credentials) -> Credentials:
            return await self.client.refresh(account=_with(access, current))

        try:
            fresh = await self._accounts.refresh(share, renew)
        except (AuthorizationFailure, TransientFailure, RateLimited, PermanentFailure):
            raise
        except Exception as exc:
            raise _OurOwnFailure() from exc
        return _with(access, fresh)

    async def _with_fresh_token(
        self, share: ClaimedShare, access: AccountAccess, post: RenderedPost
    ) -> PostResult:
        expires = access.credentials.expires_at
        if (
            access.credentials.refresh_token
            and expires is not None
            and expires - datetime.now(UTC) < REFRESH_AHEAD
        ):
            access = await self._refreshed(share, access)
        try:
            return await self._look_up_or_post(share, access, post)
        except TokenExpired:
            # Once: a token refused right after its refresh is an authorisation failure.
            access = await self._refreshed(share, access)
            try:
                return await self._look_up_or_post(share, access, post)
            except TokenExpired as exc:
                raise AuthorizationFailure(exc.reason) from exc

    async def _media(self, post: RenderedPost) -> list[MediaFile]:
        images = post.images[: self.spec.max_images]
        return list(await asyncio.gather(*(self._images.fetch(i.url, i.alt) for i in images)))

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
        media = await self._media(post)
        # Consent withdrawn or the campaign cancelled since the claim: not posted.
        try:
            reason = await self._still_wanted(share.claim)
        except Exception as exc:
            raise _OurOwnFailure() from exc
        if reason is not None:
            raise _NotWanted(reason)
        with NETWORK_REQUEST_SECONDS.labels(network, "post").time():
            return await self.client.post(
                account=access, post=post, media=media, key=self._key(share)
            )

    def _key(self, share: ClaimedShare) -> str:
        if self.spec.record_key is not None:
            return self.spec.record_key(share.campaign_created_at, share.claim.share_id)
        return share.idempotency_key

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
            return Failed(
                share.claim,
                f"gave up after {attempt} attempts: {reason}",
                spent=1,
                kind=FailureKind.EXHAUSTED,
            )
        wait = backoff(attempt)
        if ambiguous:
            # The first request may still be under way at the network: let it finish first.
            wait = max(wait, self.spec.settle_after_ambiguous)
        return Delayed(share.claim, datetime.now(UTC) + wait, reason, spent=1)

    async def _rate_limited(self, share: ClaimedShare, exc: RateLimited, record: bool) -> Outcome:
        if share.rate_waits >= MAX_RATE_WAITS:
            return Failed(
                share.claim,
                f"gave up after waiting on the rate limit {share.rate_waits} times: {exc.reason}",
                spent=0,
                kind=FailureKind.RATE_LIMITED,
            )
        now = datetime.now(UTC)
        until = clamp_rate_wait(exc.until, now=now, longest=self._longest_rate_wait)
        if record:
            await self._remember(share, exc.scope, until, exc.reason)
        return Delayed(share.claim, until, exc.reason, spent=0, rate_limited=True)

    async def _remember(
        self, share: ClaimedShare, scope: RateScope, until: datetime, why: str
    ) -> None:
        hold = Hold(self.spec.network, scope, share.claim.account_id, until, why)
        try:
            await self._accounts.hold(hold)
        except Exception as exc:
            # Best effort: a hold lost only costs one more 429, never a post.
            log.warning("could not record a rate hold: %s", exc)

    async def _hold_spent_budgets(self, share: ClaimedShare, result: PostResult) -> None:
        """A budget the answer says is spent holds its scope until it refills, before the next
        share runs into a 429."""
        now = datetime.now(UTC)
        for budget in result.budgets:
            if budget.remaining == 0 and budget.reset_at is not None and budget.reset_at > now:
                until = clamp_rate_wait(budget.reset_at, now=now, longest=self._longest_rate_wait)
                why = f"{self.spec.network.value} {budget.scope.value} budget spent"
                await self._remember(share, budget.scope, until, why)


def _with(access: AccountAccess, credentials: Credentials) -> AccountAccess:
    return AccountAccess(
        base_url=access.base_url,
        credentials=credentials,
        handle=access.handle,
        remote_account_id=access.remote_account_id,
        kind=access.kind,
    )


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
