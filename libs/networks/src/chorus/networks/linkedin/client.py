"""LinkedIn's Posts API (learn.microsoft.com, `LinkedIn-Version` pinned in settings): a 201
with an empty body and the post's URN in `x-restli-id`; images through `initializeUpload` and
a PUT of the bytes; member analytics one metric per call; 429 with no headers at all, so a
limited member waits until the next UTC midnight, when LinkedIn's daily counters reset."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

from chorus.common.credentials import Credentials
from chorus.common.failures import (
    AuthorizationFailure,
    PermanentFailure,
    RateLimited,
    TokenExpired,
    TransientFailure,
)
from chorus.common.http import HttpAnswer, NetworkHttp
from chorus.networks.answers import count_of, json_object, remote_id_of
from chorus.networks.base import (
    AccountAccess,
    AppCredentials,
    MediaFile,
    PostCounts,
    PostResult,
    RateBudget,
    RenderedPost,
)
from chorus.networks.linkedin.text import escape_little_text
from chorus.networks.matching import same_text
from chorus.networks.oauth import token_request
from chorus.networks.plumbing import account_url, unusable

__all__ = ["DEFAULT_VERSION", "LinkedInClient", "token_url"]

NAME = "linkedin"
# The Posts API version; LinkedIn supports each for about a year. Settings override it.
DEFAULT_VERSION = "202610"
_TIMELINE_PAGE = 20
_CLOCK_SKEW = timedelta(minutes=5)
# memberCreatorPostAnalytics metric -> our count
_METRICS = (
    ("IMPRESSION", "impressions"),
    ("RESHARE", "reshares"),
    ("REACTION", "likes"),
    ("COMMENT", "replies"),
)


def token_url(app: AppCredentials) -> str:
    """The token endpoint sits beside the authorisation page (www.linkedin.com/oauth/v2/)."""
    return app.auth_url.rsplit("/", 1)[0] + "/accessToken"


def next_utc_midnight(now: datetime) -> datetime:
    tomorrow = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0, 0, 5), UTC)


def _error_text(answer: HttpAnswer) -> str:
    try:
        body = json_object(answer)
    except ValueError:
        return answer.text[:200]
    message = body.get("message")
    code = body.get("serviceErrorCode") or body.get("code")
    text = str(message) if message else answer.text
    return (f"{code}: {text}" if code else text)[:200]


def raise_for_failure(answer: HttpAnswer, account: AccountAccess, *, sent: bool) -> None:
    status = answer.status_code
    if status < 400:
        return
    detail = f"linkedin {status}: {_error_text(answer)}"
    if status == 429:
        # No X-RateLimit-*, no Retry-After: the daily counters reset at midnight UTC.
        raise RateLimited(detail, until=next_utc_midnight(datetime.now(UTC)))
    if status == 401:
        if account.credentials.refresh_token:
            raise TokenExpired(detail)
        raise AuthorizationFailure(detail)
    if status == 403:
        # ACCESS_DENIED: the member's grant lacks the permission; only a new consent helps.
        raise AuthorizationFailure(detail)
    if status >= 500:
        raise TransientFailure(detail, ambiguous=sent)
    # 400/422 validation, 426 a retired LinkedIn-Version (an operator's fix, not a retry).
    raise PermanentFailure(detail)


def _person(account: AccountAccess) -> str:
    if not account.remote_account_id:
        raise PermanentFailure("linkedin: the account has no member id; connect it again")
    return f"urn:li:person:{account.remote_account_id}"


def _entity(urn: str) -> str:
    """The Rest.li tuple memberCreatorPostAnalytics wants: (share:urn%3Ali%3Ashare%3A1)."""
    kind = "ugc" if urn.startswith("urn:li:ugcPost:") else "share"
    return f"({kind}:{quote(urn, safe='')})"


class LinkedInClient:
    def __init__(self, http: NetworkHttp, app: AppCredentials | None = None) -> None:
        self._http = http
        self._app = app
        self._version = (app.version if app and app.version else "") or DEFAULT_VERSION

    def _headers(self, account: AccountAccess) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {account.token}",
            "LinkedIn-Version": self._version,
            "X-Restli-Protocol-Version": "2.0.0",
        }

    async def _get(self, account: AccountAccess, path: str, params: Any) -> dict[str, Any]:
        answer = await self._http.request(
            NAME,
            "GET",
            account_url(account, path),
            effect=False,
            headers=self._headers(account),
            params=params,
        )
        raise_for_failure(answer, account, sent=False)
        try:
            return json_object(answer)
        except ValueError as exc:
            raise unusable(NAME, f"a JSON object from {path}") from exc

    async def _upload(self, account: AccountAccess, media: MediaFile) -> str:
        answer = await self._http.request(
            NAME,
            "POST",
            account_url(account, "/rest/images?action=initializeUpload"),
            effect=False,
            headers=self._headers(account),
            json={"initializeUploadRequest": {"owner": _person(account)}},
        )
        raise_for_failure(answer, account, sent=False)
        try:
            value = json_object(answer)["value"]
            upload_url, image = str(value["uploadUrl"]), remote_id_of(value["image"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "an image upload URL") from exc
        put = await self._http.request(
            NAME,
            "PUT",
            upload_url,
            effect=False,
            headers={"Authorization": f"Bearer {account.token}", "Content-Type": media.mime},
            content=media.data,
        )
        raise_for_failure(put, account, sent=False)
        return image

    async def post(
        self, *, account: AccountAccess, post: RenderedPost, media: Sequence[MediaFile], key: str
    ) -> PostResult:
        # No idempotency at LinkedIn: `key` is unused; an ambiguous post is looked up.
        body: dict[str, Any] = {
            "author": _person(account),
            "commentary": escape_little_text(post.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if media:
            images = await asyncio.gather(*(self._upload(account, m) for m in media))
            if len(images) == 1:
                body["content"] = {"media": {"id": images[0], "altText": media[0].alt}}
            else:
                body["content"] = {
                    "multiImage": {
                        "images": [
                            {"id": i, "altText": m.alt} for i, m in zip(images, media, strict=True)
                        ]
                    }
                }
            # With images there is no card: the link goes in the text, where LinkedIn links it.
            body["commentary"] += f"\n\n{post.link}"
        elif post.card is not None:
            article: dict[str, str] = {"source": post.card.url}
            if post.card.title:
                article["title"] = post.card.title
            if post.card.description:
                article["description"] = post.card.description
            body["content"] = {"article": article}
        answer = await self._http.request(
            NAME,
            "POST",
            account_url(account, "/rest/posts"),
            effect=True,
            headers=self._headers(account),
            json=body,
        )
        raise_for_failure(answer, account, sent=True)
        try:
            urn = remote_id_of(answer.headers.get("x-restli-id"))
        except ValueError as exc:
            raise unusable(NAME, "x-restli-id", sent=True) from exc
        return PostResult(remote_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}/")

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        body = await self._get(
            account,
            "/rest/posts",
            {"q": "author", "author": _person(account), "count": _TIMELINE_PAGE},
        )
        elements = body.get("elements")
        if not isinstance(elements, list):
            raise unusable(NAME, "the member's posts")
        oldest_ms = (since - _CLOCK_SKEW).timestamp() * 1000
        for element in elements:
            if not isinstance(element, dict):
                continue
            created = element.get("createdAt")
            if isinstance(created, int) and created < oldest_ms:
                continue
            content = element.get("content") or {}
            article = content.get("article") if isinstance(content, dict) else None
            links = [str(article.get("source", ""))] if isinstance(article, dict) else []
            text = _unescape(str(element.get("commentary", "")))
            if not links:
                # A post with images carries the link at the end of its text.
                links = [post.link] if text.rstrip().endswith(post.link) else []
            if same_text(text, links, post):
                try:
                    urn = remote_id_of(element.get("id"))
                except ValueError:
                    continue
                return PostResult(remote_id=urn, url=f"https://www.linkedin.com/feed/update/{urn}/")
        if len(elements) < _TIMELINE_PAGE:
            return None
        raise TransientFailure("could not tell whether the earlier attempt posted", ambiguous=True)

    async def _metric(self, account: AccountAccess, urn: str, metric: str) -> int | None:
        body = await self._get(
            account,
            "/rest/memberCreatorPostAnalytics",
            {"q": "entity", "entity": _entity(urn), "queryType": metric, "aggregation": "TOTAL"},
        )
        elements = body.get("elements")
        if not isinstance(elements, list):
            raise unusable(NAME, f"{metric} analytics")
        if not elements:
            return None
        try:
            return count_of(elements[0]["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise unusable(NAME, f"a {metric} count") from exc

    async def _counts(self, account: AccountAccess, urn: str) -> PostCounts:
        values = await asyncio.gather(*(self._metric(account, urn, m) for m, _ in _METRICS))
        found = {name: value for (_, name), value in zip(_METRICS, values, strict=True)}
        return PostCounts(
            reshares=found["reshares"],
            likes=found["likes"],
            replies=found["replies"],
            impressions=found["impressions"],
        )

    async def read_counts(
        self,
        *,
        account: AccountAccess,
        remote_ids: Sequence[str],
        budgets: list[RateBudget] | None = None,
    ) -> dict[str, PostCounts]:
        # One metric per call, per post: the collector's batches stay small for LinkedIn. No
        # rate headers to report into `budgets`: LinkedIn sends none.
        results = await asyncio.gather(*(self._counts(account, urn) for urn in remote_ids))
        return dict(zip(remote_ids, results, strict=True))

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        body = await self._get(account, "/rest/memberFollowersCount", {"q": "me"})
        try:
            return count_of(body["elements"][0]["memberFollowersCount"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise unusable(NAME, "the followers count") from exc

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        app = self._app
        token = account.credentials.refresh_token
        # Only LinkedIn's approved partners get refresh tokens; everyone else re-consents.
        if app is None or not app.refresh_allowed or not token:
            raise AuthorizationFailure(
                "linkedin: the token expired; the colleague must consent again"
            )
        return await token_request(
            self._http,
            app,
            token_url(app),
            {
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_secret": app.client_secret,
            },
            path="",
            network=NAME,
        )


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _unescape(text: str) -> str:
    """Commentary as LinkedIn returns it (little text, escaped) back to what was written."""
    return _ESCAPED.sub(r"\1", text)
