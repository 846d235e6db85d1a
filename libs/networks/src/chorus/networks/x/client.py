"""X's API v2 (docs.x.com): `POST /2/tweets`, media through `POST /2/media/upload`, counts in
batches of 100, OAuth 2 with rotating refresh tokens, `x-rate-limit-*` with an epoch reset and
24-hour caps per user and per app."""

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
    RateScope,
    TokenExpired,
    TransientFailure,
)
from chorus.common.http import HttpAnswer, NetworkHttp
from chorus.networks.answers import (
    count_of,
    epoch_header,
    int_header,
    iso_time,
    json_object,
    remote_id_of,
)
from chorus.networks.base import (
    AccountAccess,
    AppCredentials,
    MediaFile,
    PostCounts,
    PostResult,
    RateBudget,
    RenderedPost,
)
from chorus.networks.matching import same_text
from chorus.networks.oauth import token_request
from chorus.networks.plumbing import account_url, bearer, unusable
from chorus.networks.richtext import LINK

__all__ = ["BATCH_SIZE", "XClient"]

NAME = "x"
BATCH_SIZE = 100  # ids per GET /2/tweets
_DEFAULT_RATE_WAIT = timedelta(minutes=15)  # X's windows are 15 minutes
_TIMELINE_PAGE = 100
_CLOCK_SKEW = timedelta(minutes=5)
# (header prefix, scope): the 15-minute endpoint window, then the 24-hour caps.
_BUDGETS = (
    ("x-rate-limit", RateScope.ACCOUNT),
    ("x-user-limit-24hour", RateScope.ACCOUNT),
    ("x-app-limit-24hour", RateScope.APP),
)


def _budgets(answer: HttpAnswer) -> tuple[RateBudget, ...]:
    found = []
    for prefix, scope in _BUDGETS:
        if f"{prefix}-limit" in answer.headers:
            found.append(
                RateBudget(
                    limit=int_header(answer.headers, f"{prefix}-limit"),
                    remaining=int_header(answer.headers, f"{prefix}-remaining"),
                    reset_at=epoch_header(answer.headers, f"{prefix}-reset"),
                    scope=scope,
                )
            )
    return tuple(found)


def _error_text(answer: HttpAnswer) -> str:
    try:
        body = json_object(answer)
    except ValueError:
        return answer.text[:200]
    for key in ("detail", "title"):
        if isinstance(body.get(key), str):
            return str(body[key])[:200]
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("detail") or "")[:200]
    return answer.text[:200]


def _rate_limited(answer: HttpAnswer, detail: str) -> RateLimited:
    """The tightest exhausted budget says how long, and whose it is: the app's 24-hour cap is
    every colleague's."""
    for budget in _budgets(answer)[::-1]:
        if budget.remaining == 0 and budget.reset_at is not None:
            return RateLimited(detail, until=budget.reset_at, scope=budget.scope)
    until = epoch_header(answer.headers, "x-rate-limit-reset")
    return RateLimited(detail, until=until or datetime.now(UTC) + _DEFAULT_RATE_WAIT)


def raise_for_failure(answer: HttpAnswer, account: AccountAccess, *, sent: bool) -> None:
    status = answer.status_code
    if status < 400:
        return
    detail = f"x {status}: {_error_text(answer)}"
    if status == 429:
        raise _rate_limited(answer, detail)
    if status == 401:
        # Access tokens live two hours; one with a refresh token is renewed and tried again.
        if account.credentials.refresh_token:
            raise TokenExpired(detail)
        raise AuthorizationFailure(detail)
    if status >= 500:
        raise TransientFailure(detail, ambiguous=sent)
    # 403 (duplicate content, suspended, missing scope), 400: not made better by trying again.
    raise PermanentFailure(detail)


def _counts(tweet: dict[str, Any]) -> PostCounts:
    metrics = tweet["public_metrics"]
    impressions = metrics.get("impression_count")
    return PostCounts(
        # Retweets and quotes both carry the post to the sharer's followers.
        reshares=count_of(metrics["retweet_count"]) + count_of(metrics.get("quote_count", 0)),
        likes=count_of(metrics["like_count"]),
        replies=count_of(metrics["reply_count"]),
        impressions=count_of(impressions) if impressions is not None else None,
    )


def _web_url(account: AccountAccess, tweet_id: str) -> str:
    if account.handle:
        return f"https://x.com/{account.handle.lstrip('@')}/status/{tweet_id}"
    return f"https://x.com/i/web/status/{tweet_id}"


class XClient:
    def __init__(self, http: NetworkHttp, app: AppCredentials | None = None) -> None:
        self._http = http
        self._app = app

    async def _get(self, account: AccountAccess, path: str, params: Any) -> HttpAnswer:
        answer = await self._http.request(
            NAME,
            "GET",
            account_url(account, path),
            effect=False,
            headers=bearer(account.token),
            params=params,
        )
        raise_for_failure(answer, account, sent=False)
        return answer

    async def _upload(self, account: AccountAccess, media: MediaFile) -> str:
        answer = await self._http.request(
            NAME,
            "POST",
            account_url(account, "/2/media/upload"),
            # An orphan upload is never shown to anyone: not ambiguous.
            effect=False,
            headers=bearer(account.token),
            data={"media_category": "tweet_image"},
            files={"media": ("image", media.data, media.mime)},
        )
        raise_for_failure(answer, account, sent=False)
        try:
            return remote_id_of(json_object(answer)["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "a media id") from exc

    async def post(
        self, *, account: AccountAccess, post: RenderedPost, media: Sequence[MediaFile], key: str
    ) -> PostResult:
        # X has no idempotency key: `key` is unused, and an ambiguous post is looked up.
        body: dict[str, Any] = {"text": post.text}
        if media:
            ids = await asyncio.gather(*(self._upload(account, m) for m in media))
            body["media"] = {"media_ids": list(ids)}
        answer = await self._http.request(
            NAME,
            "POST",
            account_url(account, "/2/tweets"),
            effect=True,
            headers=bearer(account.token),
            json=body,
        )
        raise_for_failure(answer, account, sent=True)
        try:
            tweet_id = remote_id_of(json_object(answer)["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "a post id", sent=True) from exc
        return PostResult(
            remote_id=tweet_id, url=_web_url(account, tweet_id), budgets=_budgets(answer)
        )

    async def _user_id(self, account: AccountAccess) -> str:
        if account.remote_account_id:
            return account.remote_account_id
        answer = await self._get(account, "/2/users/me", None)
        try:
            return remote_id_of(json_object(answer)["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "the user's id") from exc

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        user_id = await self._user_id(account)
        start = (since - _CLOCK_SKEW).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        answer = await self._get(
            account,
            f"/2/users/{user_id}/tweets",
            {
                "max_results": _TIMELINE_PAGE,
                "start_time": start,
                "tweet.fields": "created_at,entities",
                "exclude": "retweets,replies",
            },
        )
        try:
            tweets = json_object(answer).get("data") or []
            if not isinstance(tweets, list):
                raise TypeError("data is not a list")
        except (ValueError, TypeError) as exc:
            raise unusable(NAME, "a timeline") from exc
        for tweet in tweets:
            if not isinstance(tweet, dict):
                continue
            made = iso_time(tweet.get("created_at"))
            if made is not None and made < since - _CLOCK_SKEW:
                continue
            urls = (tweet.get("entities") or {}).get("urls") or []
            links = [u.get("expanded_url", "") for u in urls if isinstance(u, dict)]
            text = str(tweet.get("text", ""))
            # X shows t.co addresses in the text: compare with the full ones put back.
            for u in urls:
                if isinstance(u, dict) and u.get("url") and u.get("expanded_url"):
                    text = text.replace(str(u["url"]), str(u["expanded_url"]))
            if same_text(text, [*links, *_links_in(text)], post):
                try:
                    tweet_id = remote_id_of(tweet.get("id"))
                except ValueError:
                    continue
                return PostResult(remote_id=tweet_id, url=_web_url(account, tweet_id))
        # Fewer than a page since the attempt: had it posted, it would be here.
        if len(tweets) < _TIMELINE_PAGE:
            return None
        raise TransientFailure("could not tell whether the earlier attempt posted", ambiguous=True)

    async def read_counts(
        self,
        *,
        account: AccountAccess,
        remote_ids: Sequence[str],
        budgets: list[RateBudget] | None = None,
    ) -> dict[str, PostCounts]:
        found: dict[str, PostCounts] = {}
        for start in range(0, len(remote_ids), BATCH_SIZE):
            chunk = remote_ids[start : start + BATCH_SIZE]
            answer = await self._get(
                account, "/2/tweets", {"ids": ",".join(chunk), "tweet.fields": "public_metrics"}
            )
            if budgets is not None:
                budgets.extend(_budgets(answer))
            try:
                for tweet in json_object(answer).get("data") or []:
                    found[remote_id_of(tweet["id"])] = _counts(tweet)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise unusable(NAME, "the posts' public metrics") from exc
        # Deleted posts come back under `errors`, not `data`: left out.
        return {rid: found[rid] for rid in remote_ids if rid in found}

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        answer = await self._get(account, "/2/users/me", {"user.fields": "public_metrics"})
        try:
            return count_of(json_object(answer)["data"]["public_metrics"]["followers_count"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "the followers count") from exc

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        refresh_token = account.credentials.refresh_token
        if not refresh_token or self._app is None:
            raise AuthorizationFailure("x: the token expired and cannot be refreshed")
        # Refresh tokens rotate: the old one stops working once this answers, so the caller
        # stores the new pair before anything else (chorus.common.credentials).
        return await token_request(
            self._http,
            self._app,
            account.base_url,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
        )


def _links_in(text: str) -> list[str]:
    return [m.group(0) for m in LINK.finditer(text)]
