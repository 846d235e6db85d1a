"""Facebook Pages on the Graph API (developers.facebook.com), under `/{version}` (`v24.0`):
publish with a Page token, read posts and pages with any token, throttling reported as error
codes 4/17/32/613 beside the X-App-Usage and X-Business-Use-Case-Usage headers."""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chorus.netsim.facebook_answers import (
    THROTTLE_MESSAGES,
    field_names,
    graph_error,
    token_error,
    usage,
)
from chorus.netsim.facebook_auth import facebook_auth_router
from chorus.netsim.facebook_nodes import account_json, post_json
from chorus.netsim.forms import Upload, read_body
from chorus.netsim.state import SimAccount, SimState

__all__ = ["facebook_router"]

HOUR = 3600.0
MAX_MESSAGE = 63_206
_VERSION = re.compile(r"v\d+\.0")
_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]


@dataclass
class Caller:
    account: SimAccount
    headers: dict[str, str]


def _token(request: Request, body: dict[str, Any] | None) -> str:
    header = request.headers.get("authorization", "")
    for prefix in ("bearer ", "oauth "):
        if header.lower().startswith(prefix):
            return header[len(prefix) :].strip()
    value = request.query_params.get("access_token") or (body or {}).get("access_token")
    return value if isinstance(value, str) else ""


def _attached(body: dict[str, Any]) -> list[str] | None:
    """`attached_media[0]={"media_fbid":"1"}` (form) or `"attached_media": [{...}]` (JSON)."""
    items: list[Any] = []
    for key, value in body.items():
        if key.startswith("attached_media"):
            items.extend(value if isinstance(value, list) else [value])
    ids: list[str] = []
    for item in items:
        try:
            parsed = json.loads(item) if isinstance(item, str) else item
            ids.append(str(parsed["media_fbid"]))
        except (ValueError, KeyError, TypeError):
            return None
    return ids


def facebook_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/facebook")
    router.include_router(facebook_auth_router(state))

    def enter(
        request: Request, version: str, body: dict[str, Any] | None = None
    ) -> Caller | JSONResponse:
        if not _VERSION.fullmatch(version):
            return graph_error(400, f"Unknown path components: /{version}", 2500)
        token = _token(request, body)
        if not token:
            return graph_error(
                400, "An active access token must be used to query information.", 2500
            )
        found = state.lookup(token, "facebook")
        if not isinstance(found, SimAccount):
            return token_error(found)
        cap = state.limits.facebook_calls_per_hour
        window = state.take_rate(
            bucket="facebook.calls", account_id=found.id, limit=cap, period=HOUR
        )
        regain = math.ceil((window.started + HOUR - state.now()) / 60)
        page_id = found.id if found.kind == "page" else None
        headers = usage(page_id=page_id, used=window.used, cap=cap, regain_minutes=regain)
        if window.used > cap:
            code = state.limits.facebook_throttle_code
            return graph_error(400, THROTTLE_MESSAGES[code], code, headers=headers, transient=True)
        return Caller(found, headers)

    def resolve(caller: Caller, node_id: str) -> SimAccount | None:
        if node_id == "me":
            return caller.account
        found = state.accounts.get(node_id)
        return found if found is not None and found.network == "facebook" else None

    def missing(node_id: str, headers: dict[str, str]) -> JSONResponse:
        return graph_error(
            400,
            f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            100,
            subcode=33,
            headers=headers,
        )

    def page_for_publishing(caller: Caller, node_id: str) -> SimAccount | JSONResponse:
        page = resolve(caller, node_id)
        if page is None or page.kind != "page":
            return missing(node_id, caller.headers)
        if caller.account.id != page.id:
            # Since 2018 only a Page token of the page itself publishes.
            return graph_error(
                403,
                "(#200) If posting to a page, requires both pages_read_engagement and "
                "pages_manage_posts as an admin with sufficient administrative permission",
                200,
                headers=caller.headers,
            )
        return page

    @router.post("/{version}/{page_id}/feed")
    async def publish(version: str, page_id: str, request: Request) -> JSONResponse:
        state.requests["facebook.create_post"] += 1
        await state.faults.lag()
        body = await read_body(request)
        caller = enter(request, version, body)
        if isinstance(caller, JSONResponse):
            return caller
        page = page_for_publishing(caller, page_id)
        if isinstance(page, JSONResponse):
            return page
        fault = state.faults.take()
        if fault == "429":
            cap = state.limits.facebook_calls_per_hour
            headers = usage(page_id=page.id, used=cap, cap=cap, regain_minutes=60)
            return graph_error(400, THROTTLE_MESSAGES[4], 4, headers=headers, transient=True)
        if fault == "500":
            return graph_error(500, "An unknown error has occurred.", 1, transient=True)
        if fault == "503":
            return graph_error(
                503,
                "An unexpected error has occurred. Please retry your request later.",
                2,
                transient=True,
            )
        message, link = body.get("message"), body.get("link")
        media = _attached(body)
        if media is None or any(
            m not in state.media or state.media[m].account_id != page.id for m in media
        ):
            return graph_error(400, "(#100) Invalid attached_media", 100, headers=caller.headers)
        if not (isinstance(message, str) and message) and not link and not media:
            return graph_error(
                400, "(#100) Missing message or attachment", 100, headers=caller.headers
            )
        if isinstance(message, str) and len(message) > MAX_MESSAGE:
            return graph_error(400, "(#100) The message is too long", 100, headers=caller.headers)
        post = state.add_post(
            network="facebook",
            account=page,
            text=message if isinstance(message, str) else "",
            idempotency_key=None,
            media_ids=media,
            content={"link": link} if isinstance(link, str) else None,
        )
        if fault == "timeout":
            await asyncio.sleep(state.faults.hang_seconds)
        return JSONResponse({"id": f"{page.id}_{post.id}"}, headers=caller.headers)

    @router.post("/{version}/{page_id}/photos")
    async def photo(version: str, page_id: str, request: Request) -> JSONResponse:
        state.requests["facebook.photos"] += 1
        body = await read_body(request)
        caller = enter(request, version, body)
        if isinstance(caller, JSONResponse):
            return caller
        page = page_for_publishing(caller, page_id)
        if isinstance(page, JSONResponse):
            return page
        source, url = body.get("source"), body.get("url")
        if not isinstance(source, Upload) and not isinstance(url, str):
            return graph_error(400, "(#324) Requires upload file", 324, headers=caller.headers)
        caption = body.get("caption") or body.get("message")
        media = state.add_media(
            network="facebook",
            account=page,
            size=len(source.data) if isinstance(source, Upload) else 0,
            content_type=source.content_type if isinstance(source, Upload) else "",
            description=caption if isinstance(caption, str) else None,
            source_url=url if isinstance(url, str) else None,
        )
        if str(body.get("published", "true")).lower() in ("false", "0"):
            return JSONResponse({"id": media.id}, headers=caller.headers)
        post = state.add_post(
            network="facebook",
            account=page,
            text=media.description or "",
            idempotency_key=None,
            media_ids=[media.id],
        )
        return JSONResponse(
            {"id": media.id, "post_id": f"{page.id}_{post.id}"}, headers=caller.headers
        )

    @router.get("/{version}/me/accounts")
    async def managed_pages(version: str, request: Request) -> JSONResponse:
        state.requests["facebook.accounts"] += 1
        caller = enter(request, version)
        if isinstance(caller, JSONResponse):
            return caller
        if caller.account.kind != "user":
            return graph_error(
                400,
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
                100,
                headers=caller.headers,
            )
        pages = [state.accounts[p] for p in caller.account.pages if p in state.accounts]
        data = [
            {
                "access_token": page.token,
                "category": "Company",
                "category_list": [{"id": "2200", "name": "Company"}],
                "name": page.username,
                "id": page.id,
                "tasks": _TASKS,
            }
            for page in pages
        ]
        return JSONResponse({"data": data, "paging": {"cursors": {}}}, headers=caller.headers)

    @router.get("/{version}/{page_id}/feed")
    async def feed(version: str, page_id: str, request: Request) -> JSONResponse:
        state.requests["facebook.feed"] += 1
        caller = enter(request, version)
        if isinstance(caller, JSONResponse):
            return caller
        page = resolve(caller, page_id)
        if page is None or page.kind != "page":
            return missing(page_id, caller.headers)
        try:
            limit = min(100, max(1, int(request.query_params.get("limit", "25"))))
        except ValueError:
            limit = 25
        fields = field_names(request.query_params.get("fields", "")) or {
            "id",
            "message",
            "created_time",
        }
        posts = state.network_posts("facebook", page.id)[:limit]
        data = [post_json(p, fields) for p in posts]
        return JSONResponse({"data": data}, headers=caller.headers)

    @router.get("/{version}/{node_id}")
    async def node(version: str, node_id: str, request: Request) -> JSONResponse:
        state.requests["facebook.node"] += 1
        caller = enter(request, version)
        if isinstance(caller, JSONResponse):
            return caller
        fields = field_names(request.query_params.get("fields", ""))
        if "_" in node_id:
            page_id, _, post_id = node_id.partition("_")
            post = state.posts.get(post_id)
            if post is None or post.network != "facebook" or post.account_id != page_id:
                return missing(node_id, caller.headers)
            answer = post_json(post, fields or {"message", "created_time"})
            return JSONResponse(answer, headers=caller.headers)
        account = resolve(caller, node_id)
        if account is not None:
            answer = account_json(account, fields or {"name"})
            return JSONResponse(answer, headers=caller.headers)
        media = state.media.get(node_id)
        if media is not None and media.network == "facebook":
            return JSONResponse({"id": media.id}, headers=caller.headers)
        return missing(node_id, caller.headers)

    return router
