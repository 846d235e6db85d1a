"""Mastodon, through its REST API (docs.joinmastodon.org): statuses, Idempotency-Key, and the
X-RateLimit-* headers with an ISO-8601 reset time."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from chorus.common.failures import PermanentFailure, RateLimited, TransientFailure
from chorus.common.http import Requester
from chorus.common.networks.base import AccountAccess, PostCounts, PostResult, RateBudget
from chorus.common.networks.kinds import Network

__all__ = ["MastodonClient"]

# When a 429 carries no usable reset time, wait this long rather than hammering.
_DEFAULT_RATE_WAIT = timedelta(seconds=60)
# Statuses per `GET /api/v1/statuses?id[]=` request (Mastodon 4.3+). Mastodon's own cap is not
# documented; 20 is its usual page size and stays well under any URL length limit.
BATCH_SIZE = 20
# "keys are stored for up to 1 hour" (POST /api/v1/statuses).
IDEMPOTENCY_WINDOW = timedelta(hours=1)
# Looking a post up: pages of an account's statuses, newest first, and how far back to go
# before `since` to allow for clock skew between us and the server.
_TIMELINE_PAGE = 40
_TIMELINE_PAGES = 5
_CLOCK_SKEW = timedelta(minutes=5)
_TAG = re.compile(r"<[^>]+>")
_LINE_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)


def _counts(status: Any) -> PostCounts:
    """Counts from a Status entity; raises KeyError/TypeError/ValueError if it has none."""
    account = status.get("account")
    followers = account.get("followers_count") if isinstance(account, dict) else None
    return PostCounts(
        reshares=int(status["reblogs_count"]),
        likes=int(status["favourites_count"]),
        replies=int(status["replies_count"]),
        impressions=None,  # Mastodon has no impressions.
        author_followers=int(followers) if isinstance(followers, int) else None,
    )


def _plain(text: str) -> str:
    """Words only: how a status's HTML `content` and the text we sent are compared. Mastodon
    wraps paragraphs, links and line breaks in markup, but keeps every character of a link."""
    return " ".join(text.split())


def _content_text(content: str) -> str:
    return _plain(html.unescape(_TAG.sub("", _LINE_BREAK.sub("\n", content))))


def _iso_time(raw: object) -> datetime | None:
    """Mastodon's ISO-8601 times (`...Z`, sometimes with microseconds), as aware datetimes."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _created_at(status: dict[str, Any]) -> datetime | None:
    return _iso_time(status.get("created_at"))


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _reset_header(response: httpx.Response) -> datetime | None:
    return _iso_time(response.headers.get("X-RateLimit-Reset"))


def _budget(response: httpx.Response) -> RateBudget | None:
    if "X-RateLimit-Limit" not in response.headers:
        return None
    return RateBudget(
        limit=_int_header(response, "X-RateLimit-Limit"),
        remaining=_int_header(response, "X-RateLimit-Remaining"),
        reset_at=_reset_header(response),
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:200]
    return response.text[:200]


def _raise_for_failure(response: httpx.Response, *, sent: bool) -> None:
    status = response.status_code
    if status < 400:
        return
    detail = f"mastodon {status}: {_error_text(response)}"
    if status == 429:
        until = _reset_header(response) or datetime.now(UTC) + _DEFAULT_RATE_WAIT
        raise RateLimited(detail, until=until)
    if status >= 500:
        raise TransientFailure(detail, ambiguous=sent)
    # 401 revoked token, 403, 404, 422 validation: retrying the same request cannot help.
    raise PermanentFailure(detail)


def _url(account: AccountAccess, path: str) -> str:
    return account.base_url.rstrip("/") + path


class MastodonClient:
    """`MastodonClient(http=HttpPool(...))` (or an httpx.AsyncClient); one per process."""

    network = Network.MASTODON
    idempotency_window: timedelta | None = IDEMPOTENCY_WINDOW

    def __init__(self, *, http: Requester) -> None:
        self._http = http

    async def _request(
        self, method: str, url: str, *, token: str | None, sends_effect: bool, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientFailure(f"mastodon unreachable: {type(exc).__name__}") from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            # The request left: the post may exist even though we never saw the answer.
            raise TransientFailure(
                f"mastodon gave no answer: {type(exc).__name__}", ambiguous=sends_effect
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientFailure(f"mastodon request failed: {type(exc).__name__}") from exc

    async def post(self, *, account: AccountAccess, text: str, idempotency_key: str) -> PostResult:
        response = await self._request(
            "POST",
            _url(account, "/api/v1/statuses"),
            token=account.access_token,
            sends_effect=True,
            # Mastodon returns the original status for a key it saw in the last hour, so a
            # redelivered share never becomes a second post.
            headers={"Idempotency-Key": idempotency_key},
            json={"status": text, "visibility": "public"},
        )
        _raise_for_failure(response, sent=True)
        try:
            body = response.json()
            remote_id = body["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure("mastodon answered without a status id", ambiguous=True) from exc
        if not isinstance(remote_id, str) or not remote_id:
            raise TransientFailure("mastodon answered with an invalid status id", ambiguous=True)
        url = body.get("url") if isinstance(body.get("url"), str) else None
        try:
            observed: PostCounts | None = _counts(body)
        except (KeyError, TypeError, ValueError):
            observed = None  # The post exists; counts will be read back later.
        return PostResult(remote_id=remote_id, url=url, budget=_budget(response), observed=observed)

    async def find_post(
        self, *, account: AccountAccess, text: str, since: datetime
    ) -> PostResult | None:
        account_id = account.remote_account_id or await self._account_id(account)
        wanted = _plain(text)
        oldest = since - _CLOCK_SKEW
        params: dict[str, str | int] = {"limit": _TIMELINE_PAGE, "exclude_reblogs": "true"}
        for _ in range(_TIMELINE_PAGES):
            response = await self._request(
                "GET",
                _url(account, f"/api/v1/accounts/{account_id}/statuses"),
                token=account.access_token,
                sends_effect=False,
                params=params,
            )
            _raise_for_failure(response, sent=False)
            try:
                statuses = [s for s in response.json() if isinstance(s, dict)]
            except (ValueError, TypeError) as exc:
                raise TransientFailure("mastodon timeline answer is not a list") from exc
            for status in statuses:
                made = _created_at(status)
                # The same words posted before the attempt (an earlier campaign) are not it.
                if made is not None and made < oldest:
                    continue
                if _content_text(str(status.get("content", ""))) == wanted:
                    return PostResult(
                        remote_id=str(status["id"]),
                        url=status.get("url") if isinstance(status.get("url"), str) else None,
                        budget=_budget(response),
                    )
            created = [c for c in map(_created_at, statuses) if c is not None]
            # Newest first: a page reaching before `since` means the post was never made.
            if not statuses or (created and min(created) < oldest):
                return None
            params = {**params, "max_id": str(statuses[-1]["id"])}
        # Not seen on as many pages as we read: the account posts a lot since; say so rather
        # than risk a duplicate.
        raise TransientFailure("could not tell whether the earlier attempt posted", ambiguous=True)

    async def _account_id(self, account: AccountAccess) -> str:
        return str(await self._own_account_field(account, "id"))

    async def _own_account_field(self, account: AccountAccess, name: str) -> Any:
        """One field of the token's own Account entity (`verify_credentials`)."""
        response = await self._request(
            "GET",
            _url(account, "/api/v1/accounts/verify_credentials"),
            token=account.access_token,
            sends_effect=False,
        )
        _raise_for_failure(response, sent=False)
        try:
            return response.json()[name]
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure(f"mastodon account answer lacks {name}") from exc

    async def _read_batch(
        self, account: AccountAccess, remote_ids: Sequence[str]
    ) -> dict[str, PostCounts]:
        response = await self._request(
            "GET",
            _url(account, "/api/v1/statuses"),
            token=account.access_token,
            sends_effect=False,
            params=[("id[]", rid) for rid in remote_ids],
        )
        if response.status_code == 404:
            # Before 4.3 there is no batch route (an unknown id is left out, never a 404).
            found_one = await asyncio.gather(*(self._read_one(account, rid) for rid in remote_ids))
            return {rid: c for rid, c in zip(remote_ids, found_one, strict=True) if c}
        _raise_for_failure(response, sent=False)
        try:
            statuses = response.json()
            found = {str(s["id"]): _counts(s) for s in statuses}
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure("mastodon statuses answer lacks their counts") from exc
        # Deleted or hidden posts are simply absent from the answer.
        return {rid: found[rid] for rid in remote_ids if rid in found}

    async def _read_one(self, account: AccountAccess, remote_id: str) -> PostCounts | None:
        response = await self._request(
            "GET",
            _url(account, f"/api/v1/statuses/{remote_id}"),
            token=account.access_token,
            sends_effect=False,
        )
        if response.status_code == 404:
            return None
        _raise_for_failure(response, sent=False)
        try:
            return _counts(response.json())
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientFailure("mastodon status answer lacks its counts") from exc

    async def read_counts(
        self, *, account: AccountAccess, remote_ids: Sequence[str]
    ) -> dict[str, PostCounts]:
        chunks = [remote_ids[i : i + BATCH_SIZE] for i in range(0, len(remote_ids), BATCH_SIZE)]
        results = await asyncio.gather(*(self._read_batch(account, chunk) for chunk in chunks))
        return {rid: counts for found in results for rid, counts in found.items()}

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        followers = await self._own_account_field(account, "followers_count")
        try:
            return int(followers)
        except (TypeError, ValueError) as exc:
            raise TransientFailure("mastodon followers_count is not a number") from exc
