"""The consent ledger: one row per grant, change or withdrawal, who made it and when. Rows are
only ever added, so the history of what a colleague agreed to is never rewritten."""

from __future__ import annotations

import uuid

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import Network
from chorus.common.models import ConsentEvent

__all__ = ["record_consent"]


async def record_consent(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    account_id: uuid.UUID | None,
    network: Network,
    action: str,
    mode: str | None,
    actor: str,
) -> None:
    await session.execute(
        insert(ConsentEvent).values(
            org_id=org_id,
            ambassador_id=ambassador_id,
            account_id=account_id,
            network=network.value,
            action=action,
            mode=mode,
            actor=actor,
        )
    )
