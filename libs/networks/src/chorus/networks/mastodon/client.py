"""Mastodon's REST API (docs.joinmastodon.org): statuses with Idempotency-Key, the account's
timeline for reconciling, batch status reads, X-RateLimit-* headers with an ISO-8601 reset."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chorus.common.credentials import Credentials
from chorus.common.failures import (
    AuthorizationFailure,
    PermanentFailure,
    RateLimited,
    TransientFailure,
)
from chorus.common.http import HttpAnswer, NetworkHttp
from chorus.networks.answers import count_of, iso_time, json_object, optional_url, remote_id_of
from chorus.networks.base import (
    AccountAccess,
    AppCredentials,
    MediaFile,
    PostCounts,
    PostResult,
    RateBudget,
    RenderedPost,
)
from chorus.networks.mastodon.matching import same_post
from chorus.networks.mastodon.text import MAX_CHARACTERS, status_length

__all__ = ["BATCH_SIZE", "MastodonClient"]

NAME = "mastodon"
# When a 429 carries no usable reset time, wait this long rather than hammering.
_DEFAULT_RATE_WAIT = timedelta(seconds=60)
# Statuses per `GET /api/v1/statuses?id[]=` request (Mastodon 4.3+). Mastodon's own cap is not
# documented; 20 is its usual page size and stays well under any URL length limit.
BATCH_SIZE = 20
# Looking a post up: pages of an account's statuses, newest first, and how far back to go
# before `since` to allow for clock skew between us and the server.
_TIMELINE_PAGE = 40
_TIMELINE_PAGES = 5
_CLOCK_SKEW = timedelta(minutes=5)


def _counts(status: Any) -> PostCounts:
    """Counts from a Status entity; raises KeyError/TypeError/ValueError if it has none."""
    account = status.get("account")
    followers = account.get("followers_count") if isinstance(account, dict) else None
    return PostCounts(
        reshares=count_of(status["reblogs_count"]),
        likes=count_of(status["favourites_count"]),
        replies=count_of(status["replies_count"]),
        impressions=None,  # Mastodon has no impressions.
        author_followers=count_of(followers) if followers is not None else None,
    )


def _int_header(answer: HttpAnswer, name: str) -> int | None:
    try:
        return int(answer.headers[name])
    except (KeyError, ValueError):
        return None


def _budget(answer: HttpAnswer) -> tuple[RateBudget, ...]:
    if "X-RateLimit-Limit" not in answer.headers:
        return ()
    return (
        RateBudget(
            limit=_int_header(answer, "X-RateLimit-Limit"),
            remaining=_int_header(answer, "X-RateLimit-Remaining"),
            reset_at=iso_time(answer.headers.get("X-RateLimit-Reset")),
        ),
    )


def _error_text(answer: HttpAnswer) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:200]
    return answer.text[:200]


def _raise_for_failure(answer: HttpAnswer, *, sent: bool) -> None:
    status = answer.status_code
    if status < 400:
        return
    detail = f"mastodon {status}: {_error_text(answer)}"
    if status == 429:
        until = iso_time(answer.headers.get("X-RateLimit-Reset"))
        raise RateLimited(detail, until=until or datetime.now(UTC) + _DEFAULT_RATE_WAIT)
    if status >= 500:
        raise TransientFailure(detail, ambiguous=sent)
    if status == 401:
        # Mastodon's tokens do not expire: a 401 is a revoked token (or app).
        raise AuthorizationFailure(detail)
    # 403, 404, 422 validation: retrying the same request cannot help.
    raise PermanentFailure(detail)


def _url(account: AccountAccess, path: str) -> str:
    return account.base_url.rstrip("/") + path


def _auth(account: AccountAccess) -> dict[str, str]:
    return {"Authorization": f"Bearer {account.token}"}


# Media processing: how often, and how many times, a 202 upload is asked about.
_MEDIA_POLL_SECONDS = 0.5
_MEDIA_POLLS = 20
# An instance's limits are read once an hour at most.
_INSTANCE_TTL = timedelta(hours=1)
_RETRY_LIMITS = timedelta(minutes=1)


class MastodonClient:
    """`MastodonClient(http)`; one per process."""

    def __init__(self, http: NetworkHttp, app: AppCredentials | None = None) -> None:
        self._http = http
        # base URL -> (max characters, read at)
        self._limits: dict[str, tuple[int, datetime]] = {}

    async def max_characters(self, account: AccountAccess) -> int:
        """The instance's own limit (`/api/v2/instance`), 500 where it does not say."""
        cached = self._limits.get(account.base_url)
        now = datetime.now(UTC)
        if cached is not None and now - cached[1] < _INSTANCE_TTL:
            return cached[0]
        try:
            answer = await self._get(account, "/api/v2/instance")
        except (TransientFailure, PermanentFailure):
            # Unknown for now: the default, asked again in a minute. The post itself says
            # whether the instance is reachable.
            self._limits[account.base_url] = (MAX_CHARACTERS, now - _INSTANCE_TTL + _RETRY_LIMITS)
            return MAX_CHARACTERS
        limit = MAX_CHARACTERS
        if answer.status_code == 200:
            try:
                value = json_object(answer)["configuration"]["statuses"]["max_characters"]
                limit = count_of(value) or MAX_CHARACTERS
            except (ValueError, KeyError, TypeError):
                pass
        self._limits[account.base_url] = (limit, now)
        return limit

    async def _upload(self, account: AccountAccess, media: MediaFile) -> str:
        answer = await self._http.request(
            NAME,
            "POST",
            _url(account, "/api/v2/media"),
            effect=False,  # an unattached upload is never shown
            headers=_auth(account),
            data={"description": media.alt} if media.alt else None,
            files={"file": ("image", media.data, media.mime)},
        )
        _raise_for_failure(answer, sent=False)
        try:
            media_id = remote_id_of(json_object(answer)["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure("mastodon answered an upload without a media id") from exc
        # 202: still processing; the status can only use it once it is 200.
        polls = 0
        while answer.status_code == 202:
            polls += 1
            if polls > _MEDIA_POLLS:
                raise TransientFailure("mastodon is still processing the image")
            await asyncio.sleep(_MEDIA_POLL_SECONDS)
            answer = await self._get(account, f"/api/v1/media/{media_id}")
            _raise_for_failure(answer, sent=False)
        return media_id

    async def _get(self, account: AccountAccess, path: str, params: Any = None) -> HttpAnswer:
        return await self._http.request(
            NAME, "GET", _url(account, path), effect=False, headers=_auth(account), params=params
        )

    async def post(
        self, *, account: AccountAccess, post: RenderedPost, media: Sequence[MediaFile], key: str
    ) -> PostResult:
        limit = await self.max_characters(account)
        length = status_length(post.text)
        if length > limit:
            raise PermanentFailure(
                f"mastodon: the post is {length} characters; {account.base_url} allows {limit}"
            )
        body: dict[str, Any] = {"status": post.text, "visibility": "public"}
        if media:
            body["media_ids"] = list(
                await asyncio.gather(*(self._upload(account, m) for m in media))
            )
        answer = await self._http.request(
            NAME,
            "POST",
            _url(account, "/api/v1/statuses"),
            effect=True,
            # Mastodon returns the original status for a key it saw in the last hour, so a
            # redelivered share never becomes a second post.
            headers={**_auth(account), "Idempotency-Key": key},
            json=body,
        )
        _raise_for_failure(answer, sent=True)
        try:
            body = answer.json()
            remote_id = remote_id_of(body["id"])
        except (ValueError, KeyError, TypeError) as exc:
            # Something came back but not a status: whether it posted is unknown.
            raise TransientFailure(
                "mastodon answered without a usable status id", ambiguous=True
            ) from exc
        try:
            observed: PostCounts | None = _counts(body)
        except (KeyError, TypeError, ValueError, AttributeError):
            observed = None  # The post exists; counts will be read back later.
        return PostResult(
            remote_id=remote_id,
            url=optional_url(body.get("url")),
            budgets=_budget(answer),
            observed=observed,
        )

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        account_id = account.remote_account_id or await self._account_id(account)
        oldest = since - _CLOCK_SKEW
        params: dict[str, str | int] = {"limit": _TIMELINE_PAGE, "exclude_reblogs": "true"}
        for _ in range(_TIMELINE_PAGES):
            answer = await self._get(account, f"/api/v1/accounts/{account_id}/statuses", params)
            _raise_for_failure(answer, sent=False)
            try:
                statuses = [s for s in answer.json() if isinstance(s, dict)]
            except (ValueError, TypeError) as exc:
                raise TransientFailure("mastodon timeline answer is not a list") from exc
            for status in statuses:
                made = iso_time(status.get("created_at"))
                # The same words posted before the attempt (an earlier campaign) are not it.
                if made is not None and made < oldest:
                    continue
                if same_post(str(status.get("content", "")), post):
                    try:
                        remote_id = remote_id_of(status.get("id"))
                    except ValueError:
                        continue
                    return PostResult(
                        remote_id=remote_id,
                        url=optional_url(status.get("url")),
                        budgets=_budget(answer),
                    )
            created = [c for c in (iso_time(s.get("created_at")) for s in statuses) if c]
            # Newest first: a page reaching before `since` means the post was never made.
            if not statuses or (created and min(created) < oldest):
                return None
            params = {**params, "max_id": str(statuses[-1].get("id", ""))}
        # Not seen on as many pages as we read: the account posts a lot since; say so rather
        # than risk a duplicate.
        raise TransientFailure("could not tell whether the earlier attempt posted", ambiguous=True)

    async def _account_id(self, account: AccountAccess) -> str:
        return str(await self._own_account_field(account, "id"))

    async def _own_account_field(self, account: AccountAccess, name: str) -> Any:
        """One field of the token's own Account entity (`verify_credentials`)."""
        answer = await self._get(account, "/api/v1/accounts/verify_credentials")
        _raise_for_failure(answer, sent=False)
        try:
            return answer.json()[name]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure(f"mastodon account answer lacks {name}") from exc

    async def _read_batch(
        self, account: AccountAccess, remote_ids: Sequence[str], budgets: list[RateBudget] | None
    ) -> dict[str, PostCounts]:
        answer = await self._get(account, "/api/v1/statuses", [("id[]", rid) for rid in remote_ids])
        if budgets is not None:
            budgets.extend(_budget(answer))
        if answer.status_code == 404:
            # Before 4.3 there is no batch route (an unknown id is left out, never a 404).
            found_one = await asyncio.gather(*(self._read_one(account, rid) for rid in remote_ids))
            return {rid: c for rid, c in zip(remote_ids, found_one, strict=True) if c}
        _raise_for_failure(answer, sent=False)
        try:
            found = {remote_id_of(s["id"]): _counts(s) for s in answer.json()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TransientFailure("mastodon statuses answer lacks their counts") from exc
        # Deleted or hidden posts are simply absent from the answer.
        return {rid: found[rid] for rid in remote_ids if rid in found}

    async def _read_one(self, account: AccountAccess, remote_id: str) -> PostCounts | None:
        answer = await self._get(account, f"/api/v1/statuses/{remote_id}")
        if answer.status_code == 404:
            return None
        _raise_for_failure(answer, sent=False)
        try:
            return _counts(answer.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TransientFailure("mastodon status answer lacks its counts") from exc

    async def read_counts(
        self,
        *,
        account: AccountAccess,
        remote_ids: Sequence[str],
        budgets: list[RateBudget] | None = None,
    ) -> dict[str, PostCounts]:
        chunks = [remote_ids[i : i + BATCH_SIZE] for i in range(0, len(remote_ids), BATCH_SIZE)]
        results = await asyncio.gather(
            *(self._read_batch(account, chunk, budgets) for chunk in chunks)
        )
        return {rid: counts for found in results for rid, counts in found.items()}

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        followers = await self._own_account_field(account, "followers_count")
        try:
            return count_of(followers)
        except ValueError as exc:
            raise TransientFailure("mastodon followers_count is not a count") from exc

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        # Mastodon's tokens do not expire; there is nothing to refresh with.
        raise AuthorizationFailure("mastodon: the token no longer works; connect again")
