"""Mastodon's media API: `POST /api/v2/media` answers 200 when the file is ready, 202 with
`url: null` when it is still processing; `GET /api/v1/media/:id` says 206 until it is done."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from chorus.netsim.forms import Upload, read_body
from chorus.netsim.state import Media, SimAccount, SimState

__all__ = ["MAX_MEDIA", "mastodon_media_router", "media_json"]

MAX_MEDIA = 4
# Mastodon hands small images back at once; bigger files (and any file while the test asks
# for processing time) go through the asynchronous path.
SYNC_BYTES = 64 * 1024


def media_json(media: Media, base: str, *, ready: bool) -> dict[str, Any]:
    url = f"{base}/system/media_attachments/files/{media.id}/original" if ready else None
    kind = media.content_type.split("/")[0]
    return {
        "id": media.id,
        "type": kind if kind in ("image", "video", "audio") else "unknown",
        "url": url,
        "preview_url": url,
        "remote_url": None,
        "text_url": None,
        "meta": {},
        "description": media.description,
        "blurhash": None,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def mastodon_media_router(
    state: SimState, authenticate: Callable[[Request], SimAccount | None]
) -> APIRouter:
    router = APIRouter()

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/") + "/mastodon"

    @router.post("/api/v2/media")
    async def upload(request: Request) -> JSONResponse:
        state.requests["mastodon.media_upload"] += 1
        account = authenticate(request)
        if account is None:
            return _error(401, "The access token is invalid")
        body = await read_body(request)
        file = body.get("file")
        if not isinstance(file, Upload) or not file.data:
            return _error(422, "Validation failed: File can't be blank")
        description = body.get("description")
        processing = state.limits.mastodon_media_processing_seconds
        media = state.add_media(
            network="mastodon",
            account=account,
            size=len(file.data),
            content_type=file.content_type,
            description=description if isinstance(description, str) else None,
            processing=processing,
        )
        if processing == 0 and len(file.data) <= SYNC_BYTES:
            return JSONResponse(media_json(media, base(request), ready=True))
        return JSONResponse(media_json(media, base(request), ready=False), status_code=202)

    @router.get("/api/v1/media/{media_id}")
    async def status(media_id: str, request: Request) -> JSONResponse:
        account = authenticate(request)
        if account is None:
            return _error(401, "The access token is invalid")
        media = state.media.get(media_id)
        if media is None or media.network != "mastodon" or media.account_id != account.id:
            return _error(404, "Record not found")
        ready = state.now() >= media.ready_at
        return JSONResponse(
            media_json(media, base(request), ready=ready), status_code=200 if ready else 206
        )

    return router
