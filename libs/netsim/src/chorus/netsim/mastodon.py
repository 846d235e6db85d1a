"""Mastodon's contract (docs.joinmastodon.org): statuses with Idempotency-Key, accounts,
instance configuration, X-RateLimit-* headers with an ISO-8601 reset, errors as {"error"}."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from chorus.netsim.forms import listed, read_body
from chorus.netsim.mastodon_auth import mastodon_auth_router
from chorus.netsim.mastodon_media import MAX_MEDIA, mastodon_media_router, media_json
from chorus.netsim.state import Post, SimAccount, SimState

__all__ = ["MAX_CHARACTERS", "mastodon_router"]

MAX_CHARACTERS = 500  # the default; `/_sim/limits` sets `mastodon_max_characters`
URL_WEIGHT = 23
# Mastodon's defaults: 300 requests per 5 minutes per account on /api/*, and the `statuses`
# family at 300 per 3 hours.
API_LIMIT, API_PERIOD = 300, 300.0
STATUSES_LIMIT, STATUSES_PERIOD = 300, 3 * 3600.0
BATCH_LIMIT = 20
IDEMPOTENCY_SECONDS = 3600.0  # "keys are stored for up to 1 hour"
TIMELINE_DEFAULT, TIMELINE_MAX = 20, 40
_URL = re.compile(r"https?://[^\s]+", re.IGNORECASE)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _account_json(account: SimAccount, base: str) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "acct": account.username,
        "display_name": account.username,
        "url": f"{base}/@{account.username}",
        "followers_count": account.followers,
        "following_count": 0,
        "statuses_count": 0,
        "locked": False,
        "bot": False,
    }


def _link(match: re.Match[str]) -> str:
    """A URL as Mastodon renders it: scheme hidden, long paths cut with an ellipsis for the
    eye, but every character still in the markup."""
    url = match.group(0)
    scheme, _, rest = url.partition("://")
    shown, hidden = rest[:30], rest[30:]
    return (
        f'<a href="{url}" rel="nofollow noopener" translate="no" target="_blank">'
        f'<span class="invisible">{scheme}://</span>'
        f'<span class="{"ellipsis" if hidden else ""}">{shown}</span>'
        f'<span class="invisible">{hidden}</span></a>'
    )


def _content(text: str) -> str:
    """Plain text to a status's HTML `content`: paragraphs, line breaks, linked URLs."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(
        "<p>" + "<br />".join(_URL.sub(_link, html.escape(line)) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


def _status_json(
    post: Post, account: SimAccount, base: str, state: SimState | None = None
) -> dict[str, Any]:
    media = [state.media[m] for m in post.media_ids if m in state.media] if state else []
    return {
        "id": post.id,
        "created_at": post.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "uri": f"{base}/users/{account.username}/statuses/{post.id}",
        "url": f"{base}/@{account.username}/{post.id}",
        "content": _content(post.text),
        "visibility": "public",
        "sensitive": False,
        "spoiler_text": "",
        "language": None,
        "reblogs_count": post.reshares,
        "favourites_count": post.likes,
        "replies_count": post.replies,
        "account": _account_json(account, base),
        "media_attachments": [media_json(m, base, ready=True) for m in media],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def mastodon_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/mastodon")
    router.include_router(mastodon_auth_router(state))

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/mastodon"

    def authenticate(request: Request) -> SimAccount | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        found = state.lookup(header[7:].strip(), "mastodon")
        return found if isinstance(found, SimAccount) else None

    router.include_router(mastodon_media_router(state, authenticate))

    def rate_headers(
        account: SimAccount, bucket: str, limit: int, period: float
    ) -> tuple[bool, dict[str, str]]:
        window = state.take_rate(bucket=bucket, account_id=account.id, limit=limit, period=period)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - window.used)),
            "X-RateLimit-Reset": _iso(window.started + period),
        }
        return window.used <= limit, headers

    @router.post("/api/v1/statuses")
    async def create_status(request: Request) -> JSONResponse:
        state.requests["mastodon.create_status"] += 1
        if state.faults.latency_ms:
            await asyncio.sleep(state.faults.latency_ms / 1000)
        account = authenticate(request)
        if account is None:
            return _error(401, "The access token is invalid")
        within_api, headers = rate_headers(account, "api", API_LIMIT, API_PERIOD)
        within_statuses, status_headers = rate_headers(
            account, "statuses", STATUSES_LIMIT, STATUSES_PERIOD
        )
        if not within_statuses:
            headers = status_headers
        fault = state.faults.take()
        if fault == "429" or not (within_api and within_statuses):
            headers = {**headers, "X-RateLimit-Remaining": "0"}
            return _error(429, "Too many requests", headers)
        if fault in ("500", "503"):
            return _error(int(fault), "Internal server error")
        try:
            form = await read_body(request)
        except ClientDisconnect:
            # The client left before sending its body: nothing is stored, nobody to answer.
            return _error(400, "client disconnected")
        text = form.get("status", "")
        media_ids = [str(m) for m in listed(form, "media_ids")]
        if not isinstance(text, str) or (not text.strip() and not media_ids):
            return _error(422, "Validation failed: Text can't be blank", headers)
        limit = state.limits.mastodon_max_characters
        if len(_URL.sub("x" * URL_WEIGHT, text)) > limit:
            return _error(
                422, f"Validation failed: Text character limit of {limit} exceeded", headers
            )
        refused = _media_problem(state, account, media_ids)
        if refused:
            return _error(422, refused, headers)
        key = request.headers.get("idempotency-key")
        known = key and state.remembered(
            account_id=account.id, key=key, retention=IDEMPOTENCY_SECONDS
        )
        if known:
            # Same key within the retention: the original status, no new post.
            post = state.posts[known]
        else:
            post = state.add_post(
                network="mastodon",
                account=account,
                text=text,
                idempotency_key=key,
                media_ids=media_ids,
            )
            if key:
                state.remember(account_id=account.id, key=key, post_id=post.id)
        if fault == "timeout":
            # Stored, but the client never hears back in time: the ambiguous outcome.
            await asyncio.sleep(state.faults.hang_seconds)
        return JSONResponse(_status_json(post, account, base(request), state), headers=headers)

    @router.get("/api/v1/statuses")
    async def get_statuses(request: Request) -> JSONResponse:
        """Several statuses at once (Mastodon 4.3+); unknown ids are left out."""
        state.requests["mastodon.get_statuses"] += 1
        # Public, but a token's reads count against its account's /api/* budget.
        account = authenticate(request)
        headers: dict[str, str] = {}
        within = True
        if account is not None:
            within, headers = rate_headers(account, "api", API_LIMIT, API_PERIOD)
        fault = state.faults.take_read()
        if fault == "429" or not within:
            return _error(429, "Too many requests", {**headers, "X-RateLimit-Remaining": "0"})
        if fault in ("500", "503"):
            return _error(int(fault), "Internal server error")
        ids = request.query_params.getlist("id[]")
        if len(ids) > BATCH_LIMIT:
            return _error(422, f"Validation failed: at most {BATCH_LIMIT} ids", headers)
        posts = [state.posts[i] for i in ids if i in state.posts]
        return JSONResponse(
            [
                _status_json(p, state.accounts[p.account_id], base(request), state)
                for p in posts
                if p.network == "mastodon"
            ],
            headers=headers,
        )

    @router.get("/api/v1/statuses/{status_id}")
    async def get_status(status_id: str, request: Request) -> JSONResponse:
        state.requests["mastodon.get_status"] += 1
        post = state.posts.get(status_id)
        if post is None or post.network != "mastodon":
            return _error(404, "Record not found")
        account = state.accounts[post.account_id]
        return JSONResponse(_status_json(post, account, base(request), state))

    @router.get("/api/v1/accounts/verify_credentials")
    async def verify_credentials(request: Request) -> JSONResponse:
        state.requests["mastodon.verify_credentials"] += 1
        account = authenticate(request)
        if account is None:
            return _error(401, "The access token is invalid")
        _, headers = rate_headers(account, "api", API_LIMIT, API_PERIOD)
        return JSONResponse(_account_json(account, base(request)), headers=headers)

    @router.get("/api/v1/accounts/{account_id}/statuses")
    async def account_statuses(account_id: str, request: Request) -> JSONResponse:
        """The account's statuses, newest first, paged with `max_id` (public: no token)."""
        state.requests["mastodon.account_statuses"] += 1
        account = state.accounts.get(account_id)
        if account is None or account.network != "mastodon":
            return _error(404, "Record not found")
        try:
            limit = min(TIMELINE_MAX, int(request.query_params.get("limit", TIMELINE_DEFAULT)))
        except ValueError:
            limit = TIMELINE_DEFAULT
        max_id = request.query_params.get("max_id")
        posts = sorted(
            (p for p in state.posts.values() if p.account_id == account_id),
            key=lambda p: int(p.id),
            reverse=True,
        )
        if max_id and max_id.isdigit():
            posts = [p for p in posts if int(p.id) < int(max_id)]
        _, headers = rate_headers(account, "api", API_LIMIT, API_PERIOD)
        return JSONResponse(
            [_status_json(p, account, base(request), state) for p in posts[: max(1, limit)]],
            headers=headers,
        )

    @router.get("/api/v1/accounts/{account_id}")
    async def get_account(account_id: str, request: Request) -> JSONResponse:
        account = state.accounts.get(account_id)
        if account is None or account.network != "mastodon":
            return _error(404, "Record not found")
        return JSONResponse(_account_json(account, base(request)))

    @router.get("/api/v2/instance")
    async def instance(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "domain": request.url.hostname,
                "title": "Chorus network simulator",
                "configuration": {
                    "statuses": {
                        "max_characters": state.limits.mastodon_max_characters,
                        "max_media_attachments": MAX_MEDIA,
                        "characters_reserved_per_url": URL_WEIGHT,
                    }
                },
            }
        )

    return router


def _media_problem(state: SimState, account: SimAccount, media_ids: list[str]) -> str | None:
    if len(media_ids) > MAX_MEDIA:
        return f"Cannot attach more than {MAX_MEDIA} files"
    for media_id in media_ids:
        media = state.media.get(media_id)
        if media is None or media.network != "mastodon" or media.account_id != account.id:
            return "Validation failed: Media attachments are invalid"
        if state.now() < media.ready_at:
            return "Cannot attach files that have not finished processing. Try again in a moment!"
    return None
