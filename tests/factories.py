"""Rows for tests, written straight to the real database (the API's own tests use the API)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert, select, update

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Credentials, Keyring, remote_key
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.models import Account, Ambassador, Campaign, Organisation, Share
from chorus.gateway.api_keys import issue_key


def network_http(
    *,
    app: FastAPI | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    deadline: float = 10,
) -> NetworkHttp:
    """What the services call the networks through, reaching the simulator app in-process
    (its accounts live at http://sim/..., so private destinations are allowed, as in dev) or
    a MockTransport."""
    if transport is None:
        assert app is not None
        transport = httpx.ASGITransport(app=app)
    return NetworkHttp(
        policy=AddressPolicy(allow_private=True),
        deadline=deadline,
        max_bytes=1 << 20,
        transport=transport,
    )


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    api_key: str


async def make_org(db: Database, *, name: str, spread_now: bool = False) -> Org:
    """`spread_now` False (posting a campaign without a window at once) unless a test is about
    spreading: the tests' shares are due when staged."""
    async with db.sessions.begin() as session:
        org_id = await session.scalar(
            insert(Organisation).values(name=name, spread_now=spread_now).returning(Organisation.id)
        )
        assert org_id is not None
        key = await issue_key(session=session, org_id=org_id, name="tests", now=datetime.now(UTC))
    assert key.key is not None
    return Org(id=org_id, api_key=key.key)


async def sim_accounts(
    sim: httpx.AsyncClient, *, count: int, followers: int = 10, network: str = "mastodon"
) -> list[dict[str, Any]]:
    response = await sim.post(
        "/_sim/accounts",
        json={"count": count, "username": "amb", "followers": followers, "network": network},
    )
    response.raise_for_status()
    accounts: list[dict[str, Any]] = response.json()
    return accounts


async def make_accounts(
    db: Database,
    *,
    org: Org,
    keyring: Keyring,
    sim: list[dict[str, Any]],
    status: str = "connected",
    network: str = "mastodon",
    credentials: list[Credentials] | None = None,
    mode: str = "auto",
    colleague: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """One ambassador per simulator account, each with that account connected (with the
    simulator's token, or the given credentials). `colleague`: the ambassadors' other columns
    (timezone, quiet_start, groups...)."""
    ids = []
    async with db.sessions.begin() as session:
        for i, account in enumerate(sim):
            ambassador_id = await session.scalar(
                insert(Ambassador)
                .values(
                    org_id=org.id,
                    external_id=f"a-{uuid.uuid4().hex[:8]}-{i}",
                    display_name=f"A {i}",
                    **(colleague or {}),
                )
                .returning(Ambassador.id)
            )
            account_id = await session.scalar(
                insert(Account)
                .values(
                    org_id=org.id,
                    ambassador_id=ambassador_id,
                    network=network,
                    handle=account["username"],
                    base_url=account["base_url"],
                    remote_key=remote_key(base_url=account["base_url"], handle=account["username"]),
                    remote_account_id=None if network == "mastodon" else account["id"],
                    credentials=keyring.seal(
                        credentials[i]
                        if credentials
                        else Credentials(access_token=account["token"])
                    ),
                    status=status,
                    mode=mode,
                )
                .returning(Account.id)
            )
            assert account_id is not None
            ids.append(account_id)
    return ids


async def make_campaign(
    db: Database,
    *,
    org: Org,
    message: str = "Hello",
    networks: tuple[str, ...] = ("mastodon",),
    images: list[dict[str, str]] | None = None,
    window: tuple[datetime, datetime] | None = None,
    audience: dict[str, list[str]] | None = None,
) -> uuid.UUID:
    timing = {} if window is None else {"starts_at": window[0], "ends_at": window[1]}
    async with db.sessions.begin() as session:
        campaign_id: uuid.UUID | None = await session.scalar(
            insert(Campaign)
            .values(
                org_id=org.id,
                title="T",
                url="https://example.com/a",
                message=message,
                networks=list(networks),
                images=images or [],
                audience=audience,
                **timing,
            )
            .returning(Campaign.id)
        )
    assert campaign_id is not None
    return campaign_id


async def share_rows(db: Database, campaign_id: uuid.UUID) -> list[Share]:
    async with db.sessions() as session:
        return list(await session.scalars(select(Share).where(Share.campaign_id == campaign_id)))


async def stage_campaign(
    db: Database,
    *,
    org: Org,
    keyring: Keyring,
    sim: httpx.AsyncClient,
    count: int,
    followers: int = 10,
    message: str = "Hello",
    network: str = "mastodon",
    images: list[dict[str, str]] | None = None,
) -> uuid.UUID:
    """`count` ambassadors with simulator accounts, a campaign, and its shares staged by the
    scheduler's own handler."""
    from chorus.common.messages import CampaignCreated
    from chorus.scheduler.handlers import SchedulerHandlers

    accounts = await sim_accounts(sim, count=count, followers=followers, network=network)
    await make_accounts(db, org=org, keyring=keyring, sim=accounts, network=network)
    campaign_id = await make_campaign(
        db, org=org, message=message, networks=(network,), images=images
    )
    await SchedulerHandlers(db=db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    return campaign_id


async def make_colleague_account(
    db: Database,
    *,
    org: Org,
    keyring: Keyring,
    ambassador_id: uuid.UUID,
    network: str = "x",
    handle: str = "alice",
    mode: str = "auto",
    consent_expires_at: datetime | None = None,
) -> uuid.UUID:
    """A connected account of an existing colleague (the page's tests)."""
    base_url = f"https://{network}.example"
    async with db.sessions.begin() as session:
        account_id: uuid.UUID | None = await session.scalar(
            insert(Account)
            .values(
                org_id=org.id,
                ambassador_id=ambassador_id,
                network=network,
                handle=handle,
                base_url=base_url,
                remote_key=remote_key(base_url=base_url, handle=handle),
                credentials=keyring.seal(Credentials(access_token="t")),
                mode=mode,
                consent_expires_at=consent_expires_at,
            )
            .returning(Account.id)
        )
    assert account_id is not None
    return account_id


async def make_share(
    db: Database,
    *,
    org: Org,
    campaign_id: uuid.UUID,
    account_id: uuid.UUID,
    network: str,
    status: str,
    planned_at: datetime,
) -> uuid.UUID:
    """A share written directly in any status (the page's tests: `awaiting_review` ones, as
    staging writes them for review-first accounts)."""
    async with db.sessions.begin() as session:
        await session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(status="scheduled")
        )
        share_id: uuid.UUID | None = await session.scalar(
            insert(Share)
            .values(
                org_id=org.id,
                campaign_id=campaign_id,
                account_id=account_id,
                network=network,
                status=status,
                planned_at=planned_at,
                idempotency_key=f"chorus-{uuid.uuid4()}",
            )
            .returning(Share.id)
        )
    assert share_id is not None
    return share_id
