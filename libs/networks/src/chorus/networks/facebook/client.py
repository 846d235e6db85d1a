"""Facebook Pages through the Graph API (`/{page-id}/feed`, pinned `vNN.0`): a Page token acts
as the page; photos are uploaded unpublished and attached; errors are `{"error": {"code"}}`
where 190 is a dead token, 10/200 a missing permission, and 4/17/32/613/80001 throttling
(per app: 4; per user or page: the others), with usage headers that say when access returns."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from chorus.common.credentials import Credentials
from chorus.common.failures import (
    AuthorizationFailure,
    PermanentFailure,
    RateLimited,
    RateScope,
    TransientFailure,
)
from chorus.common.http import HttpAnswer, NetworkHttp
from chorus.networks.answers import count_of, iso_time, json_object, remote_id_of
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
from chorus.networks.plumbing import account_url, unusable

__all__ = ["DEFAULT_VERSION", "FacebookClient", "regain_access_after"]

NAME = "facebook"
DEFAULT_VERSION = "v24.0"
_DEFAULT_THROTTLE = timedelta(minutes=60)  # the platform limit is a rolling hour
_TIMELINE_PAGE = 25
_CLOCK_SKEW = timedelta(minutes=5)
_DEAD_TOKEN = {190, 102, 463, 467}
_PERMISSION = {10, 200, 3}
_APP_THROTTLE = {4}
_OWN_THROTTLE = {17, 32, 613, 80001}
_TRANSIENT = {1, 2}
_COUNT_FIELDS = (
    "shares,reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0)"
)


def regain_access_after(headers: Any) -> timedelta | None:
    """`estimated_time_to_regain_access` (minutes) from X-Business-Use-Case-Usage, if any."""
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = max(
            int(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        )
    except (ValueError, TypeError, AttributeError):
        return None
    return timedelta(minutes=minutes) if minutes > 0 else None


def _app_usage(headers: Any) -> int | None:
    """The highest percentage in X-App-Usage (call_count, total_cputime, total_time)."""
    raw = headers.get("x-app-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        return max(int(v) for v in usage.values())
    except (ValueError, TypeError, AttributeError):
        return None


def _budgets(answer: HttpAnswer) -> tuple[RateBudget, ...]:
    """The app's hourly budget, as a percentage used, when it is nearly gone: holding every
    page before Facebook starts answering code 4."""
    used = _app_usage(answer.headers)
    if used is None or used < 95:
        return ()
    return (
        RateBudget(
            limit=100,
            remaining=0,
            reset_at=datetime.now(UTC) + _DEFAULT_THROTTLE,
            scope=RateScope.APP,
        ),
    )


def raise_for_failure(answer: HttpAnswer, *, sent: bool) -> None:
    status = answer.status_code
    if status < 400:
        return
    try:
        error = json_object(answer).get("error") or {}
        code = int(error.get("code", 0))
        message = str(error.get("message", ""))[:200]
    except (ValueError, TypeError, AttributeError):
        code, message = 0, answer.text[:200]
    detail = f"facebook {status} (code {code}): {message}"
    if code in _APP_THROTTLE or code in _OWN_THROTTLE or status == 429:
        wait = regain_access_after(answer.headers) or _DEFAULT_THROTTLE
        scope = RateScope.APP if code in _APP_THROTTLE else RateScope.ACCOUNT
        raise RateLimited(detail, until=datetime.now(UTC) + wait, scope=scope)
    if code in _DEAD_TOKEN or code in _PERMISSION or status == 401:
        # A page token does not expire: 190 means it was revoked (password change, app
        # removed, the colleague no longer manages the page).
        raise AuthorizationFailure(detail)
    if status >= 500 or code in _TRANSIENT:
        raise TransientFailure(detail, ambiguous=sent)
    raise PermanentFailure(detail)


def _page(account: AccountAccess) -> str:
    if not account.remote_account_id:
        raise PermanentFailure("facebook: the account has no page id; connect it again")
    return account.remote_account_id


def _count(value: Any, *path: str) -> int | None:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return count_of(value)


class FacebookClient:
    def __init__(self, http: NetworkHttp, app: AppCredentials | None = None) -> None:
        self._http = http
        self._version = (app.version if app and app.version else "") or DEFAULT_VERSION

    def _path(self, path: str) -> str:
        return f"/{self._version}{path}"

    async def _call(
        self, account: AccountAccess, method: str, path: str, *, effect: bool, **kwargs: Any
    ) -> HttpAnswer:
        answer = await self._http.request(
            NAME,
            method,
            account_url(account, self._path(path)),
            effect=effect,
            headers={"Authorization": f"Bearer {account.token}"},
            **kwargs,
        )
        raise_for_failure(answer, sent=effect)
        return answer

    async def _upload(self, account: AccountAccess, media: MediaFile) -> str:
        answer = await self._call(
            account,
            "POST",
            f"/{_page(account)}/photos",
            effect=False,  # unpublished: nobody sees it until it is attached
            data={"published": "false", "caption": media.alt},
            files={"source": ("image", media.data, media.mime)},
        )
        try:
            return remote_id_of(json_object(answer)["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "a photo id") from exc

    async def post(
        self, *, account: AccountAccess, post: RenderedPost, media: Sequence[MediaFile], key: str
    ) -> PostResult:
        # No idempotency on the Graph API: `key` is unused; an ambiguous post is looked up.
        form: dict[str, str] = {"message": post.text, "link": post.link}
        if media:
            photos = await asyncio.gather(*(self._upload(account, m) for m in media))
            for i, photo in enumerate(photos):
                form[f"attached_media[{i}]"] = json.dumps({"media_fbid": photo})
        answer = await self._call(
            account, "POST", f"/{_page(account)}/feed", effect=True, data=form
        )
        try:
            post_id = remote_id_of(json_object(answer)["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "a post id", sent=True) from exc
        return PostResult(
            remote_id=post_id, url=f"https://www.facebook.com/{post_id}", budgets=_budgets(answer)
        )

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        oldest = since - _CLOCK_SKEW
        answer = await self._call(
            account,
            "GET",
            f"/{_page(account)}/feed",
            effect=False,
            params={
                "fields": "id,message,link,created_time",
                "since": int(oldest.timestamp()),
                "limit": _TIMELINE_PAGE,
            },
        )
        try:
            items = json_object(answer).get("data")
            if not isinstance(items, list):
                raise TypeError("data is not a list")
        except (ValueError, TypeError) as exc:
            raise unusable(NAME, "the page's feed") from exc
        for item in items:
            if not isinstance(item, dict):
                continue
            made = iso_time(str(item.get("created_time", "")).replace("+0000", "+00:00"))
            if made is not None and made < oldest:
                continue
            if same_text(str(item.get("message", "")), [str(item.get("link", ""))], post):
                try:
                    post_id = remote_id_of(item.get("id"))
                except ValueError:
                    continue
                return PostResult(remote_id=post_id, url=f"https://www.facebook.com/{post_id}")
        if len(items) < _TIMELINE_PAGE:
            return None
        raise TransientFailure("could not tell whether the earlier attempt posted", ambiguous=True)

    async def _read_one(
        self, account: AccountAccess, post_id: str, budgets: list[RateBudget] | None
    ) -> PostCounts | None:
        answer = await self._http.request(
            NAME,
            "GET",
            account_url(account, self._path(f"/{post_id}")),
            effect=False,
            headers={"Authorization": f"Bearer {account.token}"},
            params={"fields": _COUNT_FIELDS},
        )
        if budgets is not None:
            budgets.extend(_budgets(answer))
        if answer.status_code in (400, 404):
            try:
                if json_object(answer)["error"]["code"] == 100:
                    return None  # deleted, or no longer visible to the page
            except (ValueError, KeyError, TypeError):
                pass
        raise_for_failure(answer, sent=False)
        try:
            body = json_object(answer)
            return PostCounts(
                # A post never shared has no `shares` field at all: that is 0, not unknown.
                reshares=_count(body, "shares", "count") or 0,
                likes=_count(body, "reactions", "summary", "total_count"),
                replies=_count(body, "comments", "summary", "total_count"),
                # Post impressions were retired by Meta in November 2025.
                impressions=None,
            )
        except (ValueError, TypeError) as exc:
            raise unusable(NAME, "the post's counts") from exc

    async def read_counts(
        self,
        *,
        account: AccountAccess,
        remote_ids: Sequence[str],
        budgets: list[RateBudget] | None = None,
    ) -> dict[str, PostCounts]:
        results = await asyncio.gather(
            *(self._read_one(account, rid, budgets) for rid in remote_ids)
        )
        return {rid: c for rid, c in zip(remote_ids, results, strict=True) if c is not None}

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        answer = await self._call(
            account, "GET", f"/{_page(account)}", effect=False, params={"fields": "followers_count"}
        )
        try:
            return _count(json_object(answer), "followers_count")
        except (ValueError, TypeError) as exc:
            raise unusable(NAME, "the page's followers") from exc

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        # Page tokens from a long-lived user token do not expire: nothing to refresh.
        raise AuthorizationFailure("facebook: the page token no longer works; connect again")
