"""An account's credentials in the database: connected (sealed, with a consent record), opened
for a call, refreshed under a row lock, re-sealed under a new key, and erased. Nothing else
reads or writes `accounts.credentials`."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from chorus.common.credentials.consent import consent_expiry, record_consent
from chorus.common.credentials.keyring import Credentials, Keyring
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.messages import AccountNeedsReauth, ConsentWithdrawn
from chorus.common.models import Account
from chorus.common.outbox import add_events
from chorus.common.shares import cancel_open_shares
from chorus.common.text import printable

__all__ = [
    "AccountTaken",
    "AccountUnavailable",
    "ConnectedAccount",
    "connect_account",
    "erase_credentials",
    "mark_needs_reauth",
    "refresh_credentials",
    "remote_key",
    "reseal_all",
]


class AccountTaken(Exception):
    """The remote account is already connected under another colleague."""


class AccountUnavailable(Exception):
    """The account was disconnected (consent withdrawn) while we were about to use it."""


def remote_key(*, base_url: str, handle: str, stable_id: str | None = None) -> str:
    """Which remote account this is, however it was typed: `social.example/alice`, or by the
    network's own id where the account was connected through the network (handles change;
    Facebook page names are not unique): `api.x.com/id:1234`."""
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    if stable_id:
        return f"{host}/id:{stable_id}"
    return f"{host}/{handle.strip().lstrip('@').lower()}"


@dataclass(frozen=True, slots=True)
class ConnectedAccount:
    account: Account
    created: bool


async def connect_account(
    *,
    session: AsyncSession,
    keyring: Keyring,
    org_id: uuid.UUID,
    ambassador_id: uuid.UUID,
    network: Network,
    handle: str,
    base_url: str,
    remote_account_id: str | None,
    credentials: Credentials,
    mode: str,
    actor: str,
    kind: str = "",
    authorized_until: datetime | None = None,
    by_network: bool = False,
    consent_lifetime: timedelta | None = None,
) -> ConnectedAccount:
    """Connect (or reconnect, with fresh credentials) a colleague's account, and record the
    consent it means. Raises AccountTaken if another colleague has it connected. `by_network`:
    the network itself said who this is (OAuth), so its id identifies the account.
    `consent_lifetime`: the network's limit on consent (a new grant starts it again)."""
    key = remote_key(
        base_url=base_url, handle=handle, stable_id=remote_account_id if by_network else None
    )
    existing = await session.scalar(
        select(Account)
        .where(Account.org_id == org_id, Account.network == network.value)
        .where(Account.remote_key == key)
        .with_for_update()
    )
    if (
        existing is not None
        and existing.ambassador_id != ambassador_id
        and existing.status == "connected"
    ):
        raise AccountTaken(f"{network.value} account {handle} is connected by another colleague")
    values = {
        "ambassador_id": ambassador_id,
        "handle": handle,
        "base_url": base_url,
        "remote_account_id": remote_account_id,
        "credentials": keyring.seal(credentials),
        "mode": mode,
        "status": "connected",
        "status_reason": None,
        "kind": kind,
        "authorized_until": authorized_until,
    }
    account = await session.scalar(
        insert(Account)
        .values(org_id=org_id, network=network.value, remote_key=key, **values)
        .on_conflict_do_update(
            index_elements=["org_id", "network", "remote_key"],
            set_={**values, "updated_at": func.now()},
        )
        .returning(Account)
    )
    assert account is not None
    was_live = existing is not None and existing.status == "connected"
    if not was_live:
        account.consent_expires_at = await consent_expiry(
            session=session, account_id=account.id, lifetime=consent_lifetime
        )
    if not was_live or existing is None or existing.mode != mode:
        await record_consent(
            session=session,
            org_id=org_id,
            ambassador_id=ambassador_id,
            account_id=account.id,
            network=network,
            action="changed" if was_live else "granted",
            mode=mode,
            actor=actor,
        )
    return ConnectedAccount(account=account, created=existing is None)


async def erase_credentials(
    *, session: AsyncSession, org_id: uuid.UUID, account_id: uuid.UUID, actor: str, reason: str
) -> bool:
    """Consent withdrawn: the credentials are erased, the account takes no new shares and its
    shares not yet being posted are cancelled. False if there is no such account. Withdrawing
    twice records (and announces) it once: the ledger and the CMS hear of changes only."""
    before = await session.scalar(
        select(Account.status)
        .where(Account.id == account_id, Account.org_id == org_id)
        .with_for_update()
    )
    if before is None:
        return False
    account = await session.scalar(
        update(Account)
        .where(Account.id == account_id, Account.org_id == org_id)
        .values(status="revoked", credentials=b"", updated_at=func.now())
        .returning(Account)
    )
    assert account is not None
    if before != "revoked":
        await record_consent(
            session=session,
            org_id=org_id,
            ambassador_id=account.ambassador_id,
            account_id=account.id,
            network=Network(account.network),
            action="withdrawn",
            mode=None,
            actor=actor,
        )
        await add_events(
            session,
            [
                ConsentWithdrawn(
                    account_id=account.id,
                    org_id=org_id,
                    ambassador_id=account.ambassador_id,
                    network=Network(account.network),
                    actor=printable(actor)[:32],
                    withdrawn_at=account.updated_at,
                )
            ],
        )
    await cancel_open_shares(
        session=session, org_id=org_id, account_ids=[account.id], reason=reason
    )
    return True


async def mark_needs_reauth(*, session: AsyncSession, account_id: uuid.UUID, reason: str) -> bool:
    """The network refused the account's authorisation (revoked, or a refresh refused): it
    takes no shares until the colleague connects it again. Its credentials are kept sealed
    (a reconnect replaces them). False if it was not connected; announced (in the caller's
    transaction) only when it was."""
    reason = printable(reason)[:500]
    changed = (
        await session.execute(
            update(Account)
            .where(Account.id == account_id, Account.status == "connected")
            .values(status="needs_reauth", status_reason=reason, updated_at=func.now())
            .returning(Account.org_id, Account.ambassador_id, Account.network, Account.updated_at)
        )
    ).one_or_none()
    if changed is None:
        return False
    await add_events(
        session,
        [
            AccountNeedsReauth(
                account_id=account_id,
                org_id=changed.org_id,
                ambassador_id=changed.ambassador_id,
                network=Network(changed.network),
                reason=reason,
                at=changed.updated_at,
            )
        ],
    )
    return True


_LOCKED = text("SELECT credentials, status FROM accounts WHERE id = :id FOR UPDATE")
_RESEALED = text("UPDATE accounts SET credentials = :sealed, updated_at = now() WHERE id = :id")


async def refresh_credentials(
    *,
    db: Database,
    keyring: Keyring,
    account_id: uuid.UUID,
    seen: bytes,
    renew: Callable[[Credentials], Awaitable[Credentials]],
) -> Credentials:
    """New credentials for an account whose `seen` ones stopped working.

    Under the account's row lock: if another process refreshed meanwhile, its credentials are
    returned and `renew` is not called (a rotating refresh token works once); otherwise `renew`
    runs and its result is sealed in the same transaction, before the lock is let go.
    """
    async with db.sessions.begin() as session:
        row = (await session.execute(_LOCKED, {"id": account_id})).one_or_none()
        if row is None or row.status != "connected" or not row.credentials:
            raise AccountUnavailable(f"account {account_id} is not connected")
        if row.credentials != seen:
            return keyring.open(row.credentials)
        fresh = await renew(keyring.open(seen))
        await session.execute(_RESEALED, {"id": account_id, "sealed": keyring.seal(fresh)})
        return fresh


_TO_RESEAL = text(
    """
    SELECT id, credentials FROM accounts
    WHERE id > :after AND octet_length(credentials) > 0
    ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
    """
)


async def reseal_all(*, db: Database, keyring: Keyring, batch: int = 500) -> tuple[int, int]:
    """Seal every stored credential with the newest key, a batch per transaction; returns
    (re-sealed, already current). A row locked by a refresh right now is skipped and left for
    the next run (the command says how many it saw)."""
    after = uuid.UUID(int=0)
    resealed = current = 0
    while True:
        async with db.sessions.begin() as session:
            rows = (await session.execute(_TO_RESEAL, {"after": after, "limit": batch})).all()
            if not rows:
                return resealed, current
            for row in rows:
                if keyring.sealed_with_newest(row.credentials):
                    current += 1
                    continue
                await session.execute(
                    _RESEALED, {"id": row.id, "sealed": keyring.reseal(row.credentials)}
                )
                resealed += 1
            after = rows[-1].id
