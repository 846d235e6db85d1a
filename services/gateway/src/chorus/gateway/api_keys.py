"""An organisation's API keys: issued (the key shown once), listed, rotated with a grace
period, revoked. Only a key's SHA-256 is stored (see `ApiKey.key_hash` for why not bcrypt)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.models import ApiKey, Organisation
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import ApiKeyOut, ApiKeySecret, ApiKeyStatus, RotatedApiKey

__all__ = [
    "get_key",
    "hash_api_key",
    "issue_key",
    "list_keys",
    "new_api_key",
    "revoke_key",
    "rotate_key",
    "usable",
]

# "chorus_" and 8 of the random characters: 48 of the key's 256 random bits are shown to
# people, the other 208 stay secret.
PREFIX_LENGTH = 15


def new_api_key() -> str:
    return "chorus_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def usable(now: datetime) -> ColumnElement[bool]:
    """The keys that authenticate at `now`."""
    return and_(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


def _status(key: ApiKey, now: datetime) -> ApiKeyStatus:
    if key.revoked_at is not None:
        return ApiKeyStatus.REVOKED
    if key.expires_at is not None and key.expires_at <= now:
        return ApiKeyStatus.EXPIRED
    return ApiKeyStatus.ACTIVE


def _out(key: ApiKey, now: datetime) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        status=_status(key, now),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
    )


def _future(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is not None and expires_at <= now:
        raise Problem(
            422,
            "The request does not validate.",
            errors=[{"location": ["body", "expires_at"], "message": "must be in the future"}],
        )
    return expires_at


async def issue_key(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    name: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> ApiKeySecret:
    """A new key for the organisation; the answer is the only place the key itself appears."""
    secret = new_api_key()
    key = await session.scalar(
        insert(ApiKey)
        .values(
            org_id=org_id,
            name=name,
            key_hash=hash_api_key(secret),
            prefix=secret[:PREFIX_LENGTH],
            created_at=now,
            expires_at=_future(expires_at, now),
        )
        .returning(ApiKey)
    )
    assert key is not None
    return ApiKeySecret(**_out(key, now).model_dump(), key=secret)


async def list_keys(*, session: AsyncSession, org_id: uuid.UUID, now: datetime) -> list[ApiKeyOut]:
    keys = await session.scalars(
        select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return [_out(key, now) for key in keys]


async def _owned(
    session: AsyncSession, org_id: uuid.UUID, key_id: uuid.UUID, *, lock: bool = False
) -> ApiKey:
    query = select(ApiKey).where(ApiKey.id == key_id, ApiKey.org_id == org_id)
    key = await session.scalar(query.with_for_update() if lock else query)
    if key is None:
        raise Problem(404, "No such API key for this organisation.")
    return key


async def get_key(
    *, session: AsyncSession, org_id: uuid.UUID, key_id: uuid.UUID, now: datetime
) -> ApiKeyOut:
    return _out(await _owned(session, org_id, key_id), now)


async def rotate_key(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    key_id: uuid.UUID,
    grace: timedelta,
    now: datetime,
    expires_at: datetime | None = None,
) -> RotatedApiKey:
    """A new key with the old one's name; the old one works for `grace` more (never longer
    than it would have anyway), so the CMS can switch without a moment of 401s."""
    old = await _owned(session, org_id, key_id, lock=True)
    if _status(old, now) is not ApiKeyStatus.ACTIVE:
        raise Problem(409, f"This key is {_status(old, now).value}: make a new one instead.")
    current = await issue_key(
        session=session, org_id=org_id, name=old.name, now=now, expires_at=expires_at
    )
    ends = now + grace
    if old.expires_at is None or ends < old.expires_at:
        old.expires_at = ends
    await session.flush()
    return RotatedApiKey(current=current, previous=_out(old, now))


async def revoke_key(
    *, session: AsyncSession, org_id: uuid.UUID, key_id: uuid.UUID, now: datetime
) -> None:
    """Revoke now. The organisation's last working key is refused: without one it could not
    even make a new key."""
    # One key change at a time per organisation: two revocations racing would each see the
    # other key still working and together leave none.
    await session.execute(
        select(Organisation.id).where(Organisation.id == org_id).with_for_update()
    )
    key = await _owned(session, org_id, key_id)
    if key.revoked_at is not None:
        return
    if _status(key, now) is ApiKeyStatus.ACTIVE:
        others = await session.scalar(
            select(func.count())
            .select_from(ApiKey)
            .where(ApiKey.org_id == org_id, ApiKey.id != key_id, usable(now))
        )
        if not others:
            raise Problem(
                409,
                "This is the organisation's last working key: make another one before revoking it.",
            )
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=now))
