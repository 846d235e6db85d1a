"""The records behind `Idempotency-Key` (the HTTP side is `chorus.gateway.idempotency`): who
holds a key now, and the answer a retry gets back. Kept at least `retention`; every gateway
replica runs `sweep_answers`, deleting older ones in batches (they skip each other's rows)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chorus.common.db import Database
from chorus.common.models import IdempotencyRecord

__all__ = [
    "Answer",
    "Claim",
    "IdempotencyPolicy",
    "KeyInFlight",
    "KeyReused",
    "claim",
    "forget_answers",
    "keep",
    "release",
    "sweep_answers",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdempotencyPolicy:
    lease: timedelta = timedelta(seconds=120)
    retention: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Claim:
    """A key this request holds: only its holder stores or frees it."""

    org_id: uuid.UUID
    key: str
    owner: uuid.UUID


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class KeyInFlight(Exception):
    """The first request with this key is still being answered."""


class KeyReused(Exception):
    """The key was used for another request (method, path or body)."""


Sessions = async_sessionmaker[AsyncSession]


async def claim(
    *,
    sessions: Sessions,
    org_id: uuid.UUID,
    key: str,
    fingerprint: str,
    now: datetime,
    policy: IdempotencyPolicy,
) -> Claim | Answer:
    """The key for this request to run, or the answer stored for it to replay; raises
    KeyInFlight or KeyReused."""
    held = Claim(org_id=org_id, key=key, owner=uuid.uuid4())
    values = {"fingerprint": fingerprint, "owner": held.owner, "locked_until": now + policy.lease}
    for _ in range(3):
        async with sessions.begin() as session:
            claimed = await session.scalar(
                insert(IdempotencyRecord)
                .values(org_id=org_id, key=key, created_at=now, **values)
                .on_conflict_do_nothing()
                .returning(IdempotencyRecord.owner)
            )
            if claimed is not None:
                return held
            record = await session.scalar(
                select(IdempotencyRecord)
                .where(IdempotencyRecord.org_id == org_id, IdempotencyRecord.key == key)
                .with_for_update()
            )
            if record is None:
                continue  # freed (a 5xx) between the two statements: claim it again
            if record.created_at <= now - policy.retention:
                # Past its retention and not yet swept: forgotten, so this is a first use.
                await _reclaim(session, held, created_at=now, **values)
                return held
            if record.fingerprint != fingerprint:
                raise KeyReused
            if record.status_code is not None:
                return Answer(
                    status=record.status_code,
                    headers=dict(record.response_headers or {}),
                    body=record.response_body or b"",
                )
            if record.locked_until is not None and record.locked_until > now:
                raise KeyInFlight
            # Its holder stopped without an answer (a replica died): this retry runs it.
            await _reclaim(session, held, **values)
            return held
    raise KeyInFlight


async def _reclaim(session: AsyncSession, held: Claim, **values: Any) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.org_id == held.org_id, IdempotencyRecord.key == held.key)
        .values(status_code=None, response_headers=None, response_body=None, **values)
    )


def _mine(held: Claim) -> tuple[Any, ...]:
    return (
        IdempotencyRecord.org_id == held.org_id,
        IdempotencyRecord.key == held.key,
        IdempotencyRecord.owner == held.owner,
    )


async def keep(*, sessions: Sessions, held: Claim, answer: Answer) -> None:
    """Store the answer, unless the key changed hands meanwhile (a lease ran out)."""
    try:
        async with sessions.begin() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(*_mine(held))
                .values(
                    status_code=answer.status,
                    response_headers=answer.headers,
                    response_body=answer.body,
                    locked_until=None,
                )
            )
    except (SQLAlchemyError, OSError):
        # The effect is done and its answer goes out; only a retry's copy of it is lost
        # (the key frees itself when its lease runs out).
        log.warning("could not store the answer for an Idempotency-Key", exc_info=True)


async def release(*, sessions: Sessions, held: Claim) -> None:
    """Free the key without an answer: a retry runs again."""
    try:
        async with sessions.begin() as session:
            await session.execute(delete(IdempotencyRecord).where(*_mine(held)))
    except (SQLAlchemyError, OSError):
        log.warning("could not free an Idempotency-Key; its lease frees it", exc_info=True)


async def forget_answers(*, db: Database, before: datetime, batch: int = 1000) -> int:
    """Delete the records made before `before`, a batch per transaction; how many."""
    record = IdempotencyRecord
    total = 0
    while True:
        old = (
            select(record.org_id, record.key)
            .where(record.created_at < before)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        async with db.sessions.begin() as session:
            deleted = await session.execute(
                delete(record)
                .where(tuple_(record.org_id, record.key).in_(old))
                .returning(record.created_at)
            )
            done = len(deleted.all())
        total += done
        if done < batch:
            return total


async def sweep_answers(
    stop: asyncio.Event,
    *,
    db: Database,
    policy: IdempotencyPolicy,
    clock: Callable[[], datetime],
    every: float,
) -> None:
    """The gateway's loop deleting records past their retention."""
    while not stop.is_set():
        try:
            await forget_answers(db=db, before=clock() - policy.retention)
        except (SQLAlchemyError, OSError):
            log.warning("idempotency sweep failed; trying again later", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
