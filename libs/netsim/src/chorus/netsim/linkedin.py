"""LinkedIn's Posts, Images and member analytics APIs (learn.microsoft.com): `LinkedIn-Version`
on every /rest call, 201 with an empty body and `x-restli-id`, and daily per-member limits that
answer 429 with no rate headers at all."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chorus.netsim import linkedin_content
from chorus.netsim.linkedin_answers import error, post_json, token_error
from chorus.netsim.linkedin_auth import linkedin_auth_router
from chorus.netsim.state import Post, SimAccount, SimState

__all__ = ["linkedin_router"]

DAY = 86400.0
_ENTITY = re.compile(r"^\((share|ugc):(.+)\)$")
_METRICS = {
    "IMPRESSION": "impressions",
    "MEMBERS_REACHED": "impressions",
    "RESHARE": "reshares",
    "REACTION": "likes",
    "COMMENT": "replies",
}


def linkedin_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/linkedin")
    router.include_router(linkedin_auth_router(state))

    def gate(request: Request, endpoint: str, *, rest: bool = True) -> SimAccount | JSONResponse:
        """Version, then token, then the member's daily count for this endpoint."""
        if rest:
            version = request.headers.get("linkedin-version")
            if not version:
                return error(
                    400,
                    "A version must be present. Please specify a version by adding the "
                    "LinkedIn-Version header.",
                    code="VERSION_MISSING",
                )
            if version not in state.limits.linkedin_versions:
                return error(
                    426, f"Requested version {version} is not active", code="NONEXISTENT_VERSION"
                )
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return token_error("invalid")
        found = state.lookup(header[7:].strip(), "linkedin")
        if not isinstance(found, SimAccount):
            return token_error(found)
        cap = state.limits.linkedin_member_daily
        used = state.take_rate(
            bucket=f"linkedin.{endpoint}", account_id=found.id, limit=cap, period=DAY
        )
        if used.used > cap:
            return _throttled()
        return found

    @router.post("/rest/posts")
    async def create_post(request: Request) -> Response:
        state.requests["linkedin.create_post"] += 1
        await state.faults.lag()
        account = gate(request, "posts")
        if isinstance(account, JSONResponse):
            return account
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return error(400, "X-Restli-Protocol-Version 2.0.0 is required", code="BAD_REQUEST")
        fault = state.faults.take()
        if fault == "429":
            return _throttled()
        if fault in ("500", "503"):
            return error(int(fault), "Internal Server Error" if fault == "500" else "Unavailable")
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error(400, "Malformed JSON body", code="BAD_REQUEST")
        refused = linkedin_content.problem(state, account, body)
        if refused is not None:
            status, message = refused
            code = "ACCESS_DENIED" if status == 403 else "UNPROCESSABLE_ENTITY"
            return error(status, message, code=code)
        content = body.get("content")
        post = state.add_post(
            network="linkedin",
            account=account,
            text=body["commentary"],
            idempotency_key=None,
            media_ids=_media_ids(content),
            content=content,
        )
        if fault == "timeout":
            await asyncio.sleep(state.faults.hang_seconds)
        return Response(status_code=201, headers={"x-restli-id": f"urn:li:share:{post.id}"})

    @router.get("/rest/posts")
    async def find_posts(request: Request) -> JSONResponse:
        state.requests["linkedin.find_posts"] += 1
        account = gate(request, "find_posts")
        if isinstance(account, JSONResponse):
            return account
        query = request.query_params
        if query.get("q") != "author":
            return error(400, "Unsupported finder; use q=author", code="BAD_REQUEST")
        if query.get("author") != f"urn:li:person:{account.id}":
            return error(403, "Not enough permissions to access posts of this author")
        try:
            count = min(100, max(1, int(query.get("count", "10"))))
            start = max(0, int(query.get("start", "0")))
        except ValueError:
            return error(400, "count and start must be integers", code="BAD_REQUEST")
        posts = state.network_posts("linkedin", account.id)
        page = posts[start : start + count]
        return JSONResponse(
            {
                "elements": [post_json(p) for p in page],
                "paging": {"start": start, "count": count, "total": len(posts), "links": []},
            }
        )

    @router.get("/rest/posts/{urn}")
    async def get_post(urn: str, request: Request) -> JSONResponse:
        account = gate(request, "get_post")
        if isinstance(account, JSONResponse):
            return account
        post = _post(state, unquote(urn))
        if post is None:
            return error(404, f"Post {urn} not found", code="NOT_FOUND")
        return JSONResponse(post_json(post))

    @router.get("/v2/userinfo")
    async def userinfo(request: Request) -> JSONResponse:
        state.requests["linkedin.userinfo"] += 1
        account = gate(request, "userinfo", rest=False)
        if isinstance(account, JSONResponse):
            return account
        return JSONResponse(
            {
                "sub": account.id,
                "name": account.username,
                "given_name": account.username,
                "family_name": "",
                "locale": {"country": "US", "language": "en"},
            }
        )

    @router.post("/rest/images")
    async def initialize_upload(request: Request) -> JSONResponse:
        account = gate(request, "images")
        if isinstance(account, JSONResponse):
            return account
        if request.query_params.get("action") != "initializeUpload":
            return error(400, "Unsupported action", code="BAD_REQUEST")
        try:
            body = json.loads(await request.body() or b"{}")
            owner = body["initializeUploadRequest"]["owner"]
        except (ValueError, KeyError, TypeError):
            return error(422, "/initializeUploadRequest/owner :: field is required")
        if owner != f"urn:li:person:{account.id}":
            return error(403, "Not enough permissions to upload for this owner")
        image = state.add_media(
            network="linkedin", account=account, size=0, content_type="", uploaded=False
        )
        root = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "value": {
                    "uploadUrlExpiresAt": int((state.now() + DAY) * 1000),
                    "uploadUrl": f"{root}/linkedin/_upload/images/{image.id}",
                    "image": f"urn:li:image:{image.id}",
                }
            }
        )

    @router.put("/_upload/images/{image_id}")
    async def upload(image_id: str, request: Request) -> Response:
        account = gate(request, "upload", rest=False)
        if isinstance(account, JSONResponse):
            return account
        image = state.media.get(image_id)
        if image is None or image.network != "linkedin" or image.account_id != account.id:
            return error(404, "Upload URL not found", code="NOT_FOUND")
        data = await request.body()
        image.size = len(data)
        image.content_type = request.headers.get("content-type", "application/octet-stream")
        image.uploaded = True
        return Response(status_code=201)

    @router.get("/rest/images/{urn}")
    async def get_image(urn: str, request: Request) -> JSONResponse:
        account = gate(request, "images")
        if isinstance(account, JSONResponse):
            return account
        image = state.media.get(unquote(urn).rsplit(":", 1)[-1])
        if image is None or image.network != "linkedin":
            return error(404, f"Image {urn} not found", code="NOT_FOUND")
        return JSONResponse(
            {
                "id": f"urn:li:image:{image.id}",
                "owner": f"urn:li:person:{image.account_id}",
                "status": "AVAILABLE" if image.uploaded else "WAITING_UPLOAD",
            }
        )

    @router.get("/rest/memberCreatorPostAnalytics")
    async def analytics(request: Request) -> JSONResponse:
        state.requests["linkedin.post_analytics"] += 1
        account = gate(request, "analytics")
        if isinstance(account, JSONResponse):
            return account
        query = request.query_params
        metric = query.get("queryType", "")
        if metric not in _METRICS or query.get("aggregation", "TOTAL") not in ("TOTAL", "DAILY"):
            return error(400, f"Invalid queryType or aggregation: {metric!r}", code="BAD_REQUEST")
        if query.get("q") == "me":
            posts = state.network_posts("linkedin", account.id)
            target: dict[str, str] = {}
        elif query.get("q") == "entity":
            match = _ENTITY.match(query.get("entity", ""))
            post = _post(state, unquote(match.group(2))) if match else None
            if match is None or post is None:
                return error(404, "Entity not found", code="NOT_FOUND")
            if post.account_id != account.id:
                return error(403, "Not enough permissions to read this post's analytics")
            posts = [post]
            target = {match.group(1): f"urn:li:share:{post.id}"}
        else:
            return error(400, "Unsupported finder; use q=entity or q=me", code="BAD_REQUEST")
        count = sum(getattr(p, _METRICS[metric]) for p in posts)
        element: dict[str, Any] = {"count": count, "metricType": metric}
        if target:
            element["targetEntity"] = target
        return JSONResponse(
            {"elements": [element], "paging": {"start": 0, "count": 10, "links": []}}
        )

    @router.get("/rest/memberFollowersCount")
    async def followers(request: Request) -> JSONResponse:
        state.requests["linkedin.followers"] += 1
        account = gate(request, "followers")
        if isinstance(account, JSONResponse):
            return account
        if request.query_params.get("q") != "me":
            return error(400, "Unsupported finder; use q=me", code="BAD_REQUEST")
        return JSONResponse(
            {
                "elements": [{"memberFollowersCount": account.followers}],
                "paging": {"start": 0, "count": 10, "links": []},
            }
        )

    return router


def _throttled() -> JSONResponse:
    # No X-RateLimit-* and no Retry-After: LinkedIn documents none; back off until UTC midnight.
    return error(
        429,
        "Resource level throttle MEMBER DAY limit for calls to this resource is reached.",
        code="TOO_MANY_REQUESTS",
        service=101,
    )


def _post(state: SimState, urn: str) -> Post | None:
    if not urn.startswith(("urn:li:share:", "urn:li:ugcPost:")):
        return None
    post = state.posts.get(urn.rsplit(":", 1)[-1])
    return post if post is not None and post.network == "linkedin" else None


def _media_ids(content: Any) -> list[str]:
    if not isinstance(content, dict):
        return []
    if isinstance(content.get("media"), dict):
        return [str(content["media"].get("id", "")).rsplit(":", 1)[-1]]
    images = content.get("multiImage", {}).get("images", [])
    return [str(i.get("id", "")).rsplit(":", 1)[-1] for i in images]
