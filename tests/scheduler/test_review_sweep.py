"""Chorus never posts without consent: a share still awaiting review at its planned time is
skipped by the sweep, one whose account's consent ran out is skipped at release, and the
publisher's claim carries the colleague's own text where they edited it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, update

from chorus.common.bus import Bus
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.models import Ambassador, Campaign, Share
from chorus.common.shares import Reviewed, claim_many, edit_share, follow_mode, skip_share
from chorus.scheduler.releaser import Releaser
from tests.conftest import Servers
from tests.factories import Org, make_campaign, make_colleague_account, make_share

pytestmark = pytest.mark.integration


async def _ambassador(db: Database, org: Org) -> uuid.UUID:
    async with db.sessions.begin() as session:
        found: uuid.UUID | None = await session.scalar(
            insert(Ambassador)
            .values(org_id=org.id, external_id="cms-1", display_name="Alice")
            .returning(Ambassador.id)
        )
    assert found is not None
    return found


def _releaser(db: Database, bus: Bus, servers: Servers) -> Releaser:
    return Releaser(
        db=db,
        bus=bus,
        database_url=servers.database_url,
        batch_size=100,
        shares_per_message=50,
        poll_seconds=1.0,
        sweep_seconds=10,
        queued_after=timedelta(minutes=15),
        queued_patience=timedelta(hours=3),
    )


async def _shares(db: Database) -> dict[uuid.UUID, tuple[str, str | None]]:
    async with db.sessions() as session:
        return {s.id: (s.status, s.reason) for s in await session.scalars(select(Share))}


async def test_unapproved_and_unconsented_shares_are_skipped_never_released(
    clean_db: Database, org: Org, keyring: Keyring, bus: Bus, servers: Servers
) -> None:
    ambassador = await _ambassador(clean_db, org)
    now = datetime.now(UTC)
    reviewed = await make_colleague_account(
        clean_db, org=org, keyring=keyring, ambassador_id=ambassador, network="x", mode="review"
    )
    expired = await make_colleague_account(
        clean_db,
        org=org,
        keyring=keyring,
        ambassador_id=ambassador,
        network="linkedin",
        consent_expires_at=now - timedelta(minutes=1),
    )
    campaigns = [
        await make_campaign(clean_db, org=org, networks=("x", "linkedin")) for _ in range(3)
    ]
    late = await make_share(
        clean_db,
        org=org,
        campaign_id=campaigns[0],
        account_id=reviewed,
        network="x",
        status="awaiting_review",
        planned_at=now - timedelta(minutes=1),
    )
    waiting = await make_share(
        clean_db,
        org=org,
        campaign_id=campaigns[1],
        account_id=reviewed,
        network="x",
        status="awaiting_review",
        planned_at=now + timedelta(hours=1),
    )
    approved = await make_share(
        clean_db,
        org=org,
        campaign_id=campaigns[2],
        account_id=reviewed,
        network="x",
        status="planned",
        planned_at=now - timedelta(minutes=1),
    )
    unconsented = await make_share(
        clean_db,
        org=org,
        campaign_id=campaigns[2],
        account_id=expired,
        network="linkedin",
        status="planned",
        planned_at=now - timedelta(minutes=1),
    )
    releaser = _releaser(clean_db, bus, servers)
    assert await releaser.release_once() == 1  # the approved one only
    await releaser.sweep_once()
    assert await _shares(clean_db) == {
        late: ("skipped", "not approved in time"),
        waiting: ("awaiting_review", None),
        approved: ("queued", None),
        unconsented: ("skipped", "consent expired"),
    }
    async with clean_db.sessions() as session:
        status = await session.scalar(select(Campaign.status).where(Campaign.id == campaigns[0]))
    assert status == "completed"  # its only share has an outcome


async def test_the_claim_carries_the_colleagues_own_text(
    clean_db: Database, org: Org, keyring: Keyring
) -> None:
    ambassador = await _ambassador(clean_db, org)
    account = await make_colleague_account(
        clean_db, org=org, keyring=keyring, ambassador_id=ambassador, network="x"
    )
    campaign = await make_campaign(clean_db, org=org, message="Campaign text", networks=("x",))
    edited, plain = [
        await make_share(
            clean_db,
            org=org,
            campaign_id=campaign,
            account_id=a,
            network="x",
            status="planned",
            planned_at=datetime.now(UTC) - timedelta(seconds=1),
        )
        for a in (
            account,
            await make_colleague_account(
                clean_db,
                org=org,
                keyring=keyring,
                ambassador_id=ambassador,
                network="x",
                handle="bob",
            ),
        )
    ]
    async with clean_db.sessions.begin() as session:
        await session.execute(
            update(Share).where(Share.id == edited).values(text_override="My words")
        )
    async with clean_db.engine.begin() as conn:
        claims = await claim_many(
            session=conn,
            requests=[(edited, org.id), (plain, org.id)],
            lease=timedelta(minutes=1),
        )
    assert [c.message if c else None for c in claims] == ["My words", "Campaign text"]


async def test_a_share_already_tried_is_past_the_colleagues_say(
    clean_db: Database, org: Org, keyring: Keyring
) -> None:
    """A planned share waiting for its retry may already be posted (the answer never came):
    editing it would change the words its look-up matches, so edit, skip and a switch to
    review leave it alone; one never tried is still the colleague's to change."""
    ambassador = await _ambassador(clean_db, org)
    account = await make_colleague_account(
        clean_db, org=org, keyring=keyring, ambassador_id=ambassador, network="x"
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    shares = []
    for _ in range(2):
        campaign = await make_campaign(clean_db, org=org, networks=("x",))
        shares.append(
            await make_share(
                clean_db,
                org=org,
                campaign_id=campaign,
                account_id=account,
                network="x",
                status="planned",
                planned_at=later,
            )
        )
    tried, fresh = shares
    async with clean_db.sessions.begin() as session:
        await session.execute(
            update(Share).where(Share.id == tried).values(first_attempt_at=datetime.now(UTC))
        )
    who = {"org_id": org.id, "ambassador_id": ambassador}
    async with clean_db.sessions.begin() as session:
        for share in (tried, fresh):
            edited = await edit_share(session=session, share_id=share, text_override="mine", **who)
            assert edited is (Reviewed.TOO_LATE if share == tried else Reviewed.DONE)
        assert await skip_share(session=session, share_id=tried, **who) is Reviewed.TOO_LATE
        await follow_mode(session=session, org_id=org.id, account_id=account, mode="review")
    async with clean_db.sessions() as session:
        rows = {s.id: s for s in await session.scalars(select(Share))}
    assert (rows[tried].status, rows[tried].text_override) == ("planned", None)
    assert (rows[fresh].status, rows[fresh].text_override) == ("awaiting_review", "mine")
