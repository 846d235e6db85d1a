"""Bluesky through the colleague's PDS (XRPC): posts written with `putRecord` under a record key
fixed per share (writing it again is the same post), images through `uploadBlob`, sessions
from app passwords refreshed with `refreshSession` (an expired access token is a 400
`ExpiredToken`, not a 401), `RateLimit-*` headers with an epoch reset and `Retry-After`, counts
from the AppView through the PDS."""

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
    TokenExpired,
    TransientFailure,
)
from chorus.common.http import HttpAnswer, NetworkHttp
from chorus.networks.answers import count_of, epoch_header, int_header, json_object, remote_id_of
from chorus.networks.base import (
    AccountAccess,
    AppCredentials,
    MediaFile,
    PostCounts,
    PostResult,
    RateBudget,
    RenderedPost,
)
from chorus.networks.bluesky.text import facets
from chorus.networks.matching import same_text
from chorus.networks.plumbing import account_url, bearer, unusable

__all__ = ["BATCH_SIZE", "COLLECTION", "BlueskyClient", "session_credentials"]

NAME = "bluesky"
COLLECTION = "app.bsky.feed.post"
BATCH_SIZE = 25  # uris per app.bsky.feed.getPosts
_DEFAULT_RATE_WAIT = timedelta(minutes=5)
_TIMELINE_PAGE = 50
_CLOCK_SKEW = timedelta(minutes=5)
_EXPIRED = {"ExpiredToken"}
_UNAUTHORISED = {"InvalidToken", "AuthRequired", "AccountTakedown", "AccountDeactivated"}


def _error(answer: HttpAnswer) -> tuple[str, str]:
    try:
        body = json_object(answer)
        return str(body.get("error", ""))[:100], str(body.get("message", ""))[:200]
    except ValueError:
        return "", answer.text[:200]


def _budgets(answer: HttpAnswer) -> tuple[RateBudget, ...]:
    if "ratelimit-limit" not in answer.headers:
        return ()
    return (
        RateBudget(
            limit=int_header(answer.headers, "ratelimit-limit"),
            remaining=int_header(answer.headers, "ratelimit-remaining"),
            reset_at=epoch_header(answer.headers, "ratelimit-reset"),
        ),
    )


def raise_for_failure(answer: HttpAnswer, *, sent: bool) -> None:
    status = answer.status_code
    if status < 400:
        return
    name, message = _error(answer)
    detail = f"bluesky {status} {name}: {message}".strip()
    if status == 429:
        until = epoch_header(answer.headers, "ratelimit-reset")
        retry_after = int_header(answer.headers, "retry-after")
        if until is None and retry_after is not None:
            until = datetime.now(UTC) + timedelta(seconds=retry_after)
        raise RateLimited(detail, until=until or datetime.now(UTC) + _DEFAULT_RATE_WAIT)
    if name in _EXPIRED:
        raise TokenExpired(detail)
    if name in _UNAUTHORISED or status == 401:
        raise AuthorizationFailure(detail)
    if status >= 500:
        raise TransientFailure(detail, ambiguous=sent)
    raise PermanentFailure(detail)


def session_credentials(body: dict[str, Any]) -> Credentials:
    """A session (createSession, refreshSession) as credentials; ValueError if it is not one."""
    access, refresh, did = body.get("accessJwt"), body.get("refreshJwt"), body.get("did")
    if not all(isinstance(v, str) and v for v in (access, refresh, did)):
        raise ValueError("not a session")
    assert isinstance(access, str) and isinstance(refresh, str) and isinstance(did, str)
    return Credentials(
        access_token=access,
        refresh_token=refresh,
        # Access tokens live two hours: refreshed ahead of that, not after a failed post.
        expires_at=datetime.now(UTC) + timedelta(minutes=115),
        extra={"did": did},
    )


def _did(account: AccountAccess) -> str:
    did = account.remote_account_id or account.credentials.extra.get("did")
    if not did:
        raise PermanentFailure("bluesky: the account has no DID; connect it again")
    return did


def _web_url(account: AccountAccess, uri: str) -> str:
    rkey = uri.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{account.handle or _did(account)}/post/{rkey}"


class BlueskyClient:
    def __init__(self, http: NetworkHttp, app: AppCredentials | None = None) -> None:
        self._http = http

    async def _xrpc(
        self,
        account: AccountAccess,
        method: str,
        nsid: str,
        *,
        effect: bool = False,
        token: str | None = None,
        **kwargs: Any,
    ) -> HttpAnswer:
        headers = {**bearer(token or account.token), **kwargs.pop("headers", {})}
        answer = await self._http.request(
            NAME,
            method,
            account_url(account, f"/xrpc/{nsid}"),
            effect=effect,
            headers=headers,
            **kwargs,
        )
        raise_for_failure(answer, sent=effect)
        return answer

    async def _upload(self, account: AccountAccess, media: MediaFile) -> dict[str, Any]:
        answer = await self._xrpc(
            account,
            "POST",
            "com.atproto.repo.uploadBlob",
            content=media.data,
            headers={"Content-Type": media.mime},
        )
        try:
            blob = json_object(answer)["blob"]
            if not isinstance(blob, dict):
                raise TypeError("blob is not an object")
            return blob
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "a blob") from exc

    async def post(
        self, *, account: AccountAccess, post: RenderedPost, media: Sequence[MediaFile], key: str
    ) -> PostResult:
        record: dict[str, Any] = {
            "$type": COLLECTION,
            "text": post.text,
            "createdAt": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }
        spans = facets(post.text)
        if spans:
            record["facets"] = spans
        if media:
            blobs = await asyncio.gather(*(self._upload(account, m) for m in media))
            record["embed"] = {
                "$type": "app.bsky.embed.images",
                "images": [{"image": b, "alt": m.alt} for b, m in zip(blobs, media, strict=True)],
            }
        elif post.card is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": post.card.url,
                    "title": post.card.title,
                    "description": post.card.description,
                },
            }
        # `key` is the share's record key: a second write of it is the same post.
        answer = await self._xrpc(
            account,
            "POST",
            "com.atproto.repo.putRecord",
            effect=True,
            json={"repo": _did(account), "collection": COLLECTION, "rkey": key, "record": record},
        )
        try:
            uri = remote_id_of(json_object(answer)["uri"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "the record's uri", sent=True) from exc
        return PostResult(remote_id=uri, url=_web_url(account, uri), budgets=_budgets(answer))

    async def find_post(
        self, *, account: AccountAccess, post: RenderedPost, since: datetime
    ) -> PostResult | None:
        # Not needed for exactly once (the record key is), but answered honestly.
        answer = await self._xrpc(
            account,
            "GET",
            "com.atproto.repo.listRecords",
            params={"repo": _did(account), "collection": COLLECTION, "limit": _TIMELINE_PAGE},
        )
        try:
            records = json_object(answer).get("records") or []
        except ValueError as exc:
            raise unusable(NAME, "the account's records") from exc
        for item in records:
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, dict):
                continue
            links = [
                f.get("uri", "")
                for facet in value.get("facets") or []
                for f in facet.get("features") or []
                if isinstance(f, dict)
            ]
            if same_text(str(value.get("text", "")), links, post):
                try:
                    uri = remote_id_of(item.get("uri"))
                except ValueError:
                    continue
                return PostResult(remote_id=uri, url=_web_url(account, uri))
        return None

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
            answer = await self._xrpc(
                account, "GET", "app.bsky.feed.getPosts", params=[("uris", u) for u in chunk]
            )
            if budgets is not None:
                budgets.extend(_budgets(answer))
            try:
                for view in json_object(answer)["posts"]:
                    found[remote_id_of(view["uri"])] = PostCounts(
                        reshares=count_of(view.get("repostCount", 0))
                        + count_of(view.get("quoteCount", 0)),
                        likes=count_of(view.get("likeCount", 0)),
                        replies=count_of(view.get("replyCount", 0)),
                        impressions=None,  # Bluesky reports none
                    )
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise unusable(NAME, "the posts' counts") from exc
        return {rid: found[rid] for rid in remote_ids if rid in found}

    async def read_followers(self, *, account: AccountAccess) -> int | None:
        answer = await self._xrpc(
            account, "GET", "app.bsky.actor.getProfile", params={"actor": _did(account)}
        )
        try:
            return count_of(json_object(answer)["followersCount"])
        except (ValueError, KeyError, TypeError) as exc:
            raise unusable(NAME, "the followers count") from exc

    async def refresh(self, *, account: AccountAccess) -> Credentials:
        refresh_token = account.credentials.refresh_token
        if not refresh_token:
            raise AuthorizationFailure("bluesky: the session expired; connect again")
        try:
            answer = await self._xrpc(
                account,
                "POST",
                "com.atproto.server.refreshSession",
                effect=True,  # rotates the refresh token
                token=refresh_token,
            )
        except TokenExpired as exc:
            # The refresh token itself ran out (90 days): only a new app password helps.
            raise AuthorizationFailure(exc.reason) from exc
        try:
            return session_credentials(json_object(answer))
        except ValueError as exc:
            raise unusable(NAME, "a session") from exc
