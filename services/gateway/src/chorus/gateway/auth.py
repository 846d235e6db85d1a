"""Organisations authenticate with `Authorization: Bearer <API key>`; each key is held to its
rate (`chorus.gateway.ratelimit`)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import or_, select, update

from chorus.common.models import ApiKey
from chorus.gateway.api_keys import hash_api_key, usable
from chorus.gateway.problems import Problem

__all__ = ["Caller", "OrgId", "authenticate"]

# last_used_at is for people ("is this key still used?"): a write at most once a minute per
# key keeps it true enough without a write per request.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    org_id: uuid.UUID
    key_id: uuid.UUID


# Declared in the OpenAPI document (the docs' Authorize button); the check itself is ours, so a
# missing key answers the same problem+json 401 as a wrong one.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="The organisation's API key: `Authorization: Bearer <key>`.",
)


async def authenticate(request: Request) -> Caller:
    """The request's caller, checked once per request and counted once against its key's
    rate, whoever asks first (the idempotency layer asks before the route's dependencies)."""
    known = getattr(request.state, "caller", None)
    if isinstance(known, Caller):
        return known
    scheme, key = get_authorization_scheme_param(request.headers.get("Authorization"))
    if scheme.lower() != "bearer" or not key.strip():
        raise Problem(401, "Send the organisation's API key as `Authorization: Bearer <key>`.")
    state = request.app.state
    now = state.clock()
    async with state.db.sessions.begin() as session:
        row = (
            await session.execute(
                select(ApiKey.id, ApiKey.org_id, ApiKey.last_used_at).where(
                    ApiKey.key_hash == hash_api_key(key.strip()), usable(now)
                )
            )
        ).one_or_none()
        if row is None:
            raise Problem(401, "The API key is not valid.")
        if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:
            # Conditional, so replicas racing on the same minute write it once.
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == row.id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at <= now - LAST_USED_EVERY,
                    ),
                )
                .values(last_used_at=now)
            )
    if state.rate_limiter is not None and (wait := state.rate_limiter.take(row.id)) > 0:
        raise Problem(
            429,
            "This API key sent more requests than its rate allows.",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    caller = Caller(org_id=row.org_id, key_id=row.id)
    request.state.caller = caller
    return caller


async def current_caller(
    request: Request,
    # Only declared, for the OpenAPI document: `authenticate` reads the same header.
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
) -> Caller:
    return await authenticate(request)


async def current_org(caller: Annotated[Caller, Depends(current_caller)]) -> uuid.UUID:
    return caller.org_id


OrgId = Annotated[uuid.UUID, Depends(current_org)]
