"""Organisations authenticate with `Authorization: Bearer <API key>`; only its hash is stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.models import Organisation
from chorus.gateway.problems import Problem

__all__ = ["OrgId", "hash_api_key", "new_api_key"]


def new_api_key() -> str:
    return "chorus_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# Declared in the OpenAPI document (the docs' Authorize button); the check itself is ours, so a
# missing key answers the same problem+json 401 as a wrong one.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="The organisation's API key: `Authorization: Bearer <key>`.",
)


async def current_org(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> uuid.UUID:
    key = bearer.credentials if bearer is not None else ""
    if not key.strip():
        raise _unauthorized("Send the organisation's API key as `Authorization: Bearer <key>`.")
    sessions = request.app.state.db.sessions
    session: AsyncSession
    async with sessions() as session:
        org_id = await session.scalar(
            select(Organisation.id).where(Organisation.api_key_hash == hash_api_key(key.strip()))
        )
    if org_id is None:
        raise _unauthorized("The API key is not valid.")
    return org_id


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail)


OrgId = Annotated[uuid.UUID, Depends(current_org)]
