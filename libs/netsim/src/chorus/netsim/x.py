"""X API v2 (docs.x.com): tweets, users, media upload, with per-user 15-minute windows on every
endpoint and the two 24-hour caps on POST /2/tweets (the app's shared by all its users)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chorus.netsim.forms import Upload, read_body
from chorus.netsim.state import SimAccount, SimState
from chorus.netsim.x_answers import NOT_FOUND, problem, too_many, tweet_json, user_json
from chorus.netsim.x_auth import x_auth_router
from chorus.netsim.x_text import MAX_WEIGHT, weighted_length

__all__ = ["x_router"]

WINDOW = 15 * 60.0
DAY = 86400.0
# Per-user 15-minute limits of the read and upload endpoints (X's published tables).
LOOKUP_LIMIT, ME_LIMIT, TIMELINE_LIMIT, UPLOAD_LIMIT = 900, 75, 900, 500
MAX_MEDIA = 4
_APP = "app"  # one simulated app: every account's tweets count against its 24-hour cap


def _fields(request: Request, name: str) -> set[str]:
    return {f for f in request.query_params.get(name, "").split(",") if f}


def x_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/x")
    router.include_router(x_auth_router(state))

    def authenticate(request: Request) -> SimAccount | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        found = state.lookup(header[7:].strip(), "x")
        return found if isinstance(found, SimAccount) else None

    def window(endpoint: str, who: str, limit: int) -> tuple[bool, dict[str, str]]:
        used = state.take_rate(bucket=f"x.{endpoint}", account_id=who, limit=limit, period=WINDOW)
        return used.used <= limit, {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - used.used)),
            "x-rate-limit-reset": str(int(used.started + WINDOW)),
        }

    def daily(account: SimAccount) -> tuple[bool, dict[str, str], list[Any]]:
        caps = (
            ("user", account.id, state.limits.x_user_24h),
            ("app", _APP, state.limits.x_app_24h),
        )
        headers: dict[str, str] = {}
        windows = []
        within = True
        for kind, who, cap in caps:
            w = state.window(bucket=f"x.tweets.24h.{kind}", account_id=who, period=DAY)
            windows.append(w)
            within = within and w.used < cap
            headers[f"x-{kind}-limit-24hour-limit"] = str(cap)
            headers[f"x-{kind}-limit-24hour-remaining"] = str(max(0, cap - w.used))
            headers[f"x-{kind}-limit-24hour-reset"] = str(int(w.started + DAY))
        return within, headers, windows

    def unauthorized(endpoint: str, limit: int) -> JSONResponse:
        _, headers = window(endpoint, "anonymous", limit)
        return problem(401, "Unauthorized", headers)

    @router.post("/2/tweets")
    async def create_tweet(request: Request) -> JSONResponse:
        state.requests["x.create_tweet"] += 1
        await state.faults.lag()
        limit = state.limits.x_tweets_per_15min
        account = authenticate(request)
        if account is None:
            return unauthorized("create_tweet", limit)
        within, headers = window("create_tweet", account.id, limit)
        within_day, day_headers, day_windows = daily(account)
        headers.update(day_headers)
        fault = state.faults.take()
        if fault == "429" or not within or not within_day:
            if fault == "429":
                headers["x-rate-limit-remaining"] = "0"
            return too_many(headers)
        if fault in ("500", "503"):
            return problem(int(fault), headers=headers)
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return problem(400, "One or more parameters to your request was invalid.", headers)
        text = body.get("text")
        media = body.get("media") or {}
        media_ids = media.get("media_ids", []) if isinstance(media, dict) else None
        if not isinstance(media_ids, list) or not all(isinstance(m, str) for m in media_ids):
            return problem(400, "`media.media_ids` must be a list of strings", headers)
        if not isinstance(text, str) or (not text.strip() and not media_ids):
            return problem(400, "Tweet text or media is required", headers)
        if weighted_length(text) > MAX_WEIGHT:
            return problem(
                403,
                "Your Tweet text is too long. For more information on how Twitter determines "
                "text length, see https://github.com/twitter/twitter-text.",
                headers,
            )
        owned = [
            m for m in media_ids if (found := state.media.get(m)) and found.account_id == account.id
        ]
        if len(media_ids) > MAX_MEDIA or len(owned) != len(media_ids):
            return problem(400, "Your media IDs are invalid.", headers)
        if any(p.text == text for p in state.network_posts("x", account.id)):
            return problem(
                403, "You are not allowed to create a Tweet with duplicate content.", headers
            )
        post = state.add_post(
            network="x", account=account, text=text, idempotency_key=None, media_ids=media_ids
        )
        for w in day_windows:
            w.used += 1
        headers.update(daily(account)[1])
        if fault == "timeout":
            await asyncio.sleep(state.faults.hang_seconds)
        return JSONResponse(
            {"data": {"id": post.id, "text": post.text, "edit_history_tweet_ids": [post.id]}},
            status_code=201,
            headers=headers,
        )

    @router.get("/2/tweets")
    async def lookup(request: Request) -> JSONResponse:
        state.requests["x.get_tweets"] += 1
        account = authenticate(request)
        if account is None:
            return unauthorized("get_tweets", LOOKUP_LIMIT)
        within, headers = window("get_tweets", account.id, LOOKUP_LIMIT)
        if not within:
            return too_many(headers)
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            return problem(
                400,
                f"The number of values in the `ids` query parameter list [{len(ids)}] is not "
                "between 1 and 100",
                headers,
            )
        fields = _fields(request, "tweet.fields")
        found = [state.posts[i] for i in ids if i in state.posts and state.posts[i].network == "x"]
        missing = [i for i in ids if i not in {p.id for p in found}]
        body: dict[str, Any] = {}
        if found:
            body["data"] = [tweet_json(p, fields) for p in found]
        if missing:
            body["errors"] = [_not_found("tweet", "ids", i) for i in missing]
        return JSONResponse(body, headers=headers)

    @router.get("/2/users/me")
    async def me(request: Request) -> JSONResponse:
        state.requests["x.users_me"] += 1
        account = authenticate(request)
        if account is None:
            return unauthorized("users_me", ME_LIMIT)
        within, headers = window("users_me", account.id, ME_LIMIT)
        if not within:
            return too_many(headers)
        tweets = len(state.network_posts("x", account.id))
        return JSONResponse(
            {"data": user_json(account, _fields(request, "user.fields"), tweets)},
            headers=headers,
        )

    @router.get("/2/users/{user_id}/tweets")
    async def user_tweets(user_id: str, request: Request) -> JSONResponse:
        state.requests["x.user_tweets"] += 1
        account = authenticate(request)
        if account is None:
            return unauthorized("user_tweets", TIMELINE_LIMIT)
        within, headers = window("user_tweets", account.id, TIMELINE_LIMIT)
        if not within:
            return too_many(headers)
        owner = state.accounts.get(user_id)
        if owner is None or owner.network != "x":
            return JSONResponse({"errors": [_not_found("user", "id", user_id)]}, headers=headers)
        query = request.query_params
        try:
            count = int(query.get("max_results", "10"))
            start = _time(query.get("start_time"))
            end = _time(query.get("end_time"))
            bounds = [int(query.get(k, d)) for k, d in (("until_id", "0"), ("since_id", "0"))]
            token = int(query.get("pagination_token", "0"))
        except ValueError:
            return problem(400, "Invalid max_results, start_time or end_time", headers)
        if not 5 <= count <= 100:
            return problem(400, "`max_results` must be between 5 and 100", headers)
        posts = state.network_posts("x", user_id)
        posts = [
            p
            for p in posts
            if (start is None or p.created_at >= start)
            and (end is None or p.created_at <= end)
            and (not bounds[0] or int(p.id) < bounds[0])
            and int(p.id) > bounds[1]
            and (not token or int(p.id) <= token)
        ]
        page, rest = posts[:count], posts[count:]
        fields = _fields(request, "tweet.fields")
        meta: dict[str, Any] = {"result_count": len(page)}
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = [tweet_json(p, fields) for p in page]
            meta.update(newest_id=page[0].id, oldest_id=page[-1].id)
        if rest:
            meta["next_token"] = rest[0].id
        return JSONResponse(body, headers=headers)

    @router.post("/2/media/upload")
    async def upload(request: Request) -> JSONResponse:
        state.requests["x.media_upload"] += 1
        account = authenticate(request)
        if account is None:
            return unauthorized("media_upload", UPLOAD_LIMIT)
        within, headers = window("media_upload", account.id, UPLOAD_LIMIT)
        if not within:
            return too_many(headers)
        body = await read_body(request)
        media = body.get("media")
        if not isinstance(media, Upload) or not media.data:
            return problem(400, "One or more parameters to your request was invalid.", headers)
        stored = state.add_media(
            network="x", account=account, size=len(media.data), content_type=media.content_type
        )
        return JSONResponse(
            {
                "data": {
                    "id": stored.id,
                    "media_key": f"3_{stored.id}",
                    "size": stored.size,
                    "expires_after_secs": 86400,
                    "image": {"image_type": stored.content_type},
                }
            },
            headers=headers,
        )

    return router


def _not_found(resource: str, parameter: str, value: str) -> dict[str, str]:
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": NOT_FOUND,
    }


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
