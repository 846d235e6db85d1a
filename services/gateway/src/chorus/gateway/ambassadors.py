"""Colleagues' connected accounts, found by the colleague's external id in the CMS.

Connecting is an upsert, so the CMS can repeat it safely (colleagues themselves: `colleagues`).
"""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.addresses import AddressPolicy, DestinationRefused
from chorus.common.credentials import (
    AccountTaken,
    Credentials,
    Keyring,
    connect_account,
    erase_credentials,
)
from chorus.common.kinds import Network
from chorus.common.models import Account, Ambassador
from chorus.gateway.problems import Problem
from chorus.gateway.schemas import AccountIn, AccountOut
from chorus.networks import spec_for

__all__ = [
    "account_out",
    "list_accounts",
    "put_account",
    "revoke_account",
]


async def _ambassador_id(session: AsyncSession, org_id: uuid.UUID, external_id: str) -> uuid.UUID:
    found = await session.scalar(
        select(Ambassador.id).where(
            Ambassador.org_id == org_id, Ambassador.external_id == external_id
        )
    )
    if found is None:
        raise Problem(404, f"No ambassador with external id {external_id!r}.")
    return found


async def put_account(
    *,
    session: AsyncSession,
    org_id: uuid.UUID,
    external_id: str,
    body: AccountIn,
    keyring: Keyring,
    policy: AddressPolicy,
) -> tuple[AccountOut, bool]:
    """Connect (or reconnect) an account; returns (account, created)."""
    base_url = str(body.base_url).rstrip("/")
    try:
        host = policy.check_url(base_url)
        await policy.resolve(host, body.base_url.port or 443)
    except DestinationRefused as exc:
        raise Problem(
            422,
            f"The account's server cannot be used: {exc}.",
            errors=[{"location": ["body", "base_url"], "message": str(exc)}],
        ) from exc
    ambassador_id = await _ambassador_id(session, org_id, external_id)
    try:
        connected = await connect_account(
            session=session,
            keyring=keyring,
            org_id=org_id,
            ambassador_id=ambassador_id,
            network=body.network,
            handle=body.handle,
            base_url=base_url,
            remote_account_id=body.remote_account_id,
            credentials=Credentials(access_token=body.access_token),
            mode=body.mode,
            actor="cms",
            consent_lifetime=spec_for(body.network).consent_lifetime,
        )
    except AccountTaken as exc:
        raise Problem(409, f"{exc}; disconnect it there first.") from exc
    return account_out(connected.account, external_id), connected.created


def account_out(account: Account, external_id: str) -> AccountOut:
    status: Literal["connected", "needs_reauth", "revoked"] = "revoked"
    if account.status == "connected":
        status = "connected"
    elif account.status == "needs_reauth":
        status = "needs_reauth"
    return AccountOut(
        id=account.id,
        ambassador_external_id=external_id,
        network=Network(account.network),
        handle=account.handle,
        base_url=account.base_url,
        mode="review" if account.mode == "review" else "auto",
        status=status,
        status_reason=account.status_reason,
        kind=account.kind,
        authorized_until=account.authorized_until,
        consent_expires_at=account.consent_expires_at,
    )


async def list_accounts(
    *, session: AsyncSession, org_id: uuid.UUID, external_id: str
) -> list[AccountOut]:
    """The colleague's accounts: which are connected, which need connecting again (and why),
    and until when each authorisation lasts where it cannot be refreshed."""
    ambassador_id = await _ambassador_id(session, org_id, external_id)
    rows = await session.scalars(
        select(Account)
        .where(Account.org_id == org_id, Account.ambassador_id == ambassador_id)
        .order_by(Account.network, Account.handle)
    )
    return [account_out(a, external_id) for a in rows]


async def revoke_account(
    *, session: AsyncSession, org_id: uuid.UUID, external_id: str, account_id: uuid.UUID
) -> None:
    """Consent withdrawn: the account stops receiving shares. Its credentials are erased."""
    ambassador_id = await _ambassador_id(session, org_id, external_id)
    owner = await session.scalar(
        select(Account.ambassador_id).where(Account.id == account_id, Account.org_id == org_id)
    )
    if owner != ambassador_id or not await erase_credentials(
        session=session,
        org_id=org_id,
        account_id=account_id,
        actor="cms",
        reason="consent withdrawn: the account was disconnected",
    ):
        raise Problem(404, "No such account for this ambassador.")
