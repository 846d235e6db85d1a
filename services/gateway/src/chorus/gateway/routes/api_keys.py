from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from chorus.gateway.api_keys import get_key, issue_key, list_keys, revoke_key, rotate_key
from chorus.gateway.auth import OrgId
from chorus.gateway.deps import SessionsDep
from chorus.gateway.idempotency import IdempotentRoute, store_instead
from chorus.gateway.problems import BODY_PROBLEMS, problems
from chorus.gateway.schemas import ApiKeyIn, ApiKeyOut, ApiKeySecret, RotatedApiKey, RotateIn

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], route_class=IdempotentRoute)

_LOCATION = {
    "Location": {"description": "The new key's URL.", "schema": {"type": "string"}},
}
_KEY_LINKS = {
    "RotateApiKey": {
        "operationId": "rotate_api_key",
        "parameters": {"key_id": "$response.body#/id"},
    },
    "RevokeApiKey": {
        "operationId": "revoke_api_key",
        "parameters": {"key_id": "$response.body#/id"},
    },
}


@router.post(
    "",
    status_code=201,
    response_model=ApiKeySecret,
    responses={
        201: {
            "description": "The key, in `key`: shown this once, store it now. A retry "
            "with the same Idempotency-Key answers the same without it (`key` null).",
            "headers": _LOCATION,
            "links": _KEY_LINKS,
        },
        **problems(*BODY_PROBLEMS),
    },
    operation_id="create_api_key",
)
async def create_api_key(
    body: ApiKeyIn, org_id: OrgId, sessions: SessionsDep, request: Request, response: Response
) -> ApiKeySecret:
    """Make another API key for the organisation (one per system that calls Chorus, say)."""
    async with sessions.begin() as session:
        made = await issue_key(
            session=session,
            org_id=org_id,
            name=body.name,
            now=request.app.state.clock(),
            expires_at=body.expires_at,
        )
    response.headers["Location"] = f"/v1/api-keys/{made.id}"
    store_instead(request, made.model_copy(update={"key": None}).model_dump_json().encode())
    return made


@router.get("", response_model=list[ApiKeyOut], responses=problems(), operation_id="list_api_keys")
async def get_api_keys(org_id: OrgId, sessions: SessionsDep, request: Request) -> list[ApiKeyOut]:
    """The organisation's keys, oldest first, revoked and expired ones included; never the
    keys themselves."""
    async with sessions() as session:
        return await list_keys(session=session, org_id=org_id, now=request.app.state.clock())


@router.get(
    "/{key_id}",
    response_model=ApiKeyOut,
    responses=problems(404, 422),
    operation_id="get_api_key",
)
async def get_api_key(
    key_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep, request: Request
) -> ApiKeyOut:
    """One key (never the key itself)."""
    async with sessions() as session:
        return await get_key(
            session=session, org_id=org_id, key_id=key_id, now=request.app.state.clock()
        )


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=RotatedApiKey,
    responses={
        201: {
            "description": "The new key (`current.key`, shown this once) and the old one, "
            "which works until its `expires_at`.",
            "headers": _LOCATION,
        },
        **problems(404, 409, *BODY_PROBLEMS),
    },
    operation_id="rotate_api_key",
)
async def rotate_api_key(
    key_id: uuid.UUID,
    org_id: OrgId,
    sessions: SessionsDep,
    request: Request,
    response: Response,
    body: Annotated[RotateIn | None, Body()] = None,
) -> RotatedApiKey:
    """Replace a key: a new one now, the old one still accepted for `grace_seconds` (24 h
    if not given) so the CMS can switch without failing a request. A revoked or expired key
    cannot be rotated (409)."""
    asked = body or RotateIn()
    async with sessions.begin() as session:
        rotated = await rotate_key(
            session=session,
            org_id=org_id,
            key_id=key_id,
            grace=timedelta(seconds=asked.grace_seconds),
            now=request.app.state.clock(),
            expires_at=asked.expires_at,
        )
    response.headers["Location"] = f"/v1/api-keys/{rotated.current.id}"
    shown_once = rotated.current.model_copy(update={"key": None})
    store_instead(
        request, rotated.model_copy(update={"current": shown_once}).model_dump_json().encode()
    )
    return rotated


@router.delete(
    "/{key_id}",
    status_code=204,
    responses={
        204: {"description": "Revoked (or it already was)."},
        **problems(404, 409, 422),
    },
    operation_id="revoke_api_key",
)
async def revoke_api_key(
    key_id: uuid.UUID, org_id: OrgId, sessions: SessionsDep, request: Request
) -> Response:
    """Revoke a key now. The organisation's last working key is refused with 409: make and
    switch to another first, or rotate it."""
    async with sessions.begin() as session:
        await revoke_key(
            session=session, org_id=org_id, key_id=key_id, now=request.app.state.clock()
        )
    return Response(status_code=204)
