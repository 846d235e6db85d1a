"""The consent ledger: one row per grant, change or withdrawal, who made it and when. Rows are
only ever added, so the history of what a colleague agreed to is never rewritten. A change of
mode or a renewal is made here, in the transaction that records it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.kinds import Network
from chorus.common.models import Account, ConsentEvent
from chorus.common.shares.review import follow_mode

__all__ = ["change_mode", "consent_expiry", "record_consent", "renew_consent"]


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


async def consent_expiry(
    *, session: AsyncSession, account_id: uuid.UUID, lifetime: timedelta | None
) -> datetime | None:
    """A grant starts the network's consent lifetime again (None: consent does not expire)."""
    expiry = None if lifetime is None else func.now() + lifetime
    expires: datetime | None = await session.scalar(
        update(Account)
        .where(Account.id == account_id)
        .values(consent_expires_at=expiry)
        .returning(Account.consent_expires_at)
    )
    return expires


async def _connected(
    session: AsyncSession, org_id: uuid.UUID, ambassador_id: uuid.UUID, account_id: uuid.UUID
) -> Account | None:
    found: Account | None = await session.scalar(
        select(Account)
        .where(Account.id == account_id, Account.org_id == org_id)
        .where(Account.ambassador_id == ambassador_id, Account.status == "connected")
        .with_for_update()
    )
    return found


async def change_mode(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    account_id: uuid.UUID,
    mode: str,
    actor: str,
) -> bool | None:
    """`auto` (Chorus posts) or `review` (the colleague approves each share first). Shares not
    yet released follow the new mode. None: no such connected account of this colleague;
    False: it was in that mode already (nothing recorded)."""
    account = await _connected(session, org_id, ambassador_id, account_id)
    if account is None:
        return None
    if account.mode == mode:
        return False
    await session.execute(
        update(Account).where(Account.id == account_id).values(mode=mode, updated_at=func.now())
    )
    await follow_mode(session=session, org_id=org_id, account_id=account_id, mode=mode)
    await record_consent(
        session=session,
        org_id=org_id,
        ambassador_id=ambassador_id,
        account_id=account_id,
        network=Network(account.network),
        action="changed",
        mode=mode,
        actor=actor,
    )
    return True


async def renew_consent(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    account_id: uuid.UUID,
    lifetime_of: Callable[[Network], timedelta | None],
    actor: str,
) -> datetime | None:
    """Consent given again before it runs out: a new `granted` row, and the network's
    lifetime (`lifetime_of`, from its rules) starts again. Raises LookupError if there is no
    such connected account of this colleague."""
    account = await _connected(session, org_id, ambassador_id, account_id)
    if account is None:
        raise LookupError("no such connected account")
    network = Network(account.network)
    await record_consent(
        session=session,
        org_id=org_id,
        ambassador_id=ambassador_id,
        account_id=account_id,
        network=network,
        action="granted",
        mode=account.mode,
        actor=actor,
    )
    return await consent_expiry(
        session=session, account_id=account_id, lifetime=lifetime_of(network)
    )
