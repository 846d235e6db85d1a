"""Staging shares set-based, releasing them when due, sweeping the stale ones."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy import delete, insert, select, text

from chorus.common.bus import Bus
from chorus.common.credentials import Keyring
from chorus.common.db import Database, open_database
from chorus.common.kinds import Network
from chorus.common.messages import (
    CampaignCreated,
    ShareRequested,
    SharesRequested,
    SharesRequests,
)
from chorus.common.models import Account, Campaign, Organisation, OutboxEvent, Share
from chorus.common.retry import MAX_REPLANS
from chorus.common.settings import DatabaseSettings
from chorus.common.shares import StagingRules
from chorus.common.shares.staging import _LOCK_ORG
from chorus.common.topology import publisher_queue
from chorus.scheduler.handlers import SchedulerHandlers
from chorus.scheduler.releaser import Releaser
from tests.conftest import Servers
from tests.factories import (
    Org,
    make_accounts,
    make_campaign,
    make_org,
    share_rows,
    sim_accounts,
    stage_campaign,
)

pytestmark = pytest.mark.integration


async def test_one_share_per_connected_account_and_redelivery_stages_nothing_more(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    sim = await sim_accounts(sim_http, count=40)
    await make_accounts(clean_db, org=org, keyring=keyring, sim=sim[:30])
    await make_accounts(clean_db, org=org, keyring=keyring, sim=sim[30:], status="revoked")
    campaign_id = await make_campaign(clean_db, org=org)
    handlers = SchedulerHandlers(db=clean_db)
    event = CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    await handlers.campaign_created(event)
    await handlers.campaign_created(event)  # redelivered
    shares = await share_rows(clean_db, campaign_id)
    assert len(shares) == 30
    assert {s.status for s in shares} == {"planned"}
    assert len({s.account_id for s in shares}) == 30
    assert all(s.idempotency_key == f"chorus-{s.id}" for s in shares)
    async with clean_db.sessions() as session:
        planned = await session.scalar(
            text("SELECT shares_planned FROM campaigns WHERE id = :id"), {"id": campaign_id}
        )
    assert planned == 30


async def test_event_for_another_organisations_campaign_stages_nothing(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=await sim_accounts(sim_http, count=3)
    )
    campaign_id = await make_campaign(clean_db, org=org)
    forged = CampaignCreated(campaign_id=campaign_id, org_id=uuid.uuid4())
    await SchedulerHandlers(db=clean_db).campaign_created(forged)
    assert await share_rows(clean_db, campaign_id) == []


async def test_stagings_at_once_leave_the_pool_room_for_their_readers(
    servers: Servers, clean_db: Database, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """Each staging holds two connections (its own and its audience reader's). With a pool of
    three and one staging at a time, four organisations' campaigns arriving together are all
    staged; with three at a time each would hold one connection and wait for a second."""
    campaigns = []
    for i in range(4):
        other = await make_org(clean_db, name=f"pool-{i}")
        await make_accounts(
            clean_db, org=other, keyring=keyring, sim=await sim_accounts(sim_http, count=3)
        )
        campaigns.append(
            CampaignCreated(campaign_id=await make_campaign(clean_db, org=other), org_id=other.id)
        )
    tight = open_database(
        DatabaseSettings(database_url=servers.database_url, database_pool_size=3),
        application_name="tests",
    )
    try:
        handlers = SchedulerHandlers(db=tight, stagings_at_once=1)
        async with asyncio.timeout(120):
            await asyncio.gather(*(handlers.campaign_created(c) for c in campaigns))
    finally:
        await tight.close()
    for event in campaigns:
        assert len(await share_rows(clean_db, event.campaign_id)) == 3


_COPY_WAITING_ON_A_LOCK = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE query LIKE 'COPY%shares%' AND wait_event_type = 'Lock'"
)


async def test_a_staging_cancelled_mid_copy_stages_nothing_and_leaves_the_pool_sound(
    servers: Servers, clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """aio-pika cancels a handler whose connection drops. Cancelled while its COPY waits (on a
    lock another session holds), a staging leaves no share, its audience reader does not go
    back to the pool mid-transaction, and the redelivery stages everything."""
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=await sim_accounts(sim_http, count=12)
    )
    campaign_id = await make_campaign(clean_db, org=org)
    event = CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    tight = open_database(
        DatabaseSettings(database_url=servers.database_url, database_pool_size=3),
        application_name="tests",
    )
    try:
        handlers = SchedulerHandlers(db=tight, rules=StagingRules(batch=5), stagings_at_once=1)
        async with clean_db.sessions() as blocker, clean_db.sessions() as watcher:
            await blocker.execute(text("LOCK TABLE shares IN SHARE MODE"))
            staging = asyncio.create_task(handlers.campaign_created(event))
            deadline = asyncio.get_running_loop().time() + 60
            while not await watcher.scalar(text(_COPY_WAITING_ON_A_LOCK)):
                assert asyncio.get_running_loop().time() < deadline, "the COPY never waited"
                assert not staging.done(), staging
                await asyncio.sleep(0.05)
                await watcher.rollback()
            staging.cancel()
            with pytest.raises(asyncio.CancelledError):
                await staging
            await blocker.rollback()
        assert await share_rows(clean_db, campaign_id) == []
        # Every connection the pool hands out is usable: none was left inside the reader's
        # transaction (a new transaction on it would fail) or mid-query.
        async with asyncio.timeout(60):
            await asyncio.gather(*(handlers.campaign_created(event) for _ in range(3)))
    finally:
        await tight.close()
    assert len(await share_rows(clean_db, campaign_id)) == 12


async def _staged(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient, n: int
) -> uuid.UUID:
    return await stage_campaign(db, org=org, keyring=keyring, sim=sim, count=n)


def _releaser(
    db: Database, bus: Bus, servers: Servers, batch: int = 1000, per_message: int = 50
) -> Releaser:
    return Releaser(
        db=db,
        bus=bus,
        database_url=servers.database_url,
        batch_size=batch,
        shares_per_message=per_message,
        poll_seconds=1.0,
        sweep_seconds=10,
        queued_after=timedelta(minutes=15),
        queued_patience=timedelta(hours=3),
    )


async def test_due_shares_are_released_once_to_their_network_queue(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 25)
    releaser = _releaser(clean_db, bus, servers, batch=10)
    assert [await releaser.release_once() for _ in range(4)] == [10, 10, 5, 0]
    shares = await share_rows(clean_db, campaign_id)
    assert {s.status for s in shares} == {"queued"} and all(s.released_at for s in shares)
    received = await _received(bus, Network.MASTODON)
    # One message per release round here (each round's ten or five shares fit in one).
    assert [len(m.share_ids) for m in received] == [10, 10, 5]
    assert {m.org_id for m in received} == {org.id}
    assert sorted(i for m in received for i in m.share_ids) == sorted(s.id for s in shares)


async def _received(bus: Bus, network: Network) -> list[SharesRequested]:
    """Every message waiting in the network's queue, in either form, as many-share ones."""
    channel = await bus.channel(prefetch=100)
    queue = await channel.get_queue(publisher_queue(network).name)
    received = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        received.append(SharesRequests.model_validate_json(message.body).batch())
    await channel.close()
    return received


async def test_a_release_round_carries_its_shares_in_as_few_messages_as_it_may(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    mastodon = await _staged(clean_db, org, keyring, sim_http, 9)
    x = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=3, network="x")
    releaser = _releaser(clean_db, bus, servers, per_message=4)
    assert await releaser.release_once() == 12
    # Per network, at most four shares a message.
    by_network = {n: await _received(bus, n) for n in (Network.MASTODON, Network.X)}
    assert sorted(len(m.share_ids) for m in by_network[Network.MASTODON]) == [1, 4, 4]
    assert [len(m.share_ids) for m in by_network[Network.X]] == [3]
    for network, campaign_id in ((Network.MASTODON, mastodon), (Network.X, x)):
        sent = sorted(i for m in by_network[network] for i in m.share_ids)
        assert sent == sorted(s.id for s in await share_rows(clean_db, campaign_id))


async def test_one_share_a_message_sends_what_publishers_of_earlier_releases_read(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 3)
    assert await _releaser(clean_db, bus, servers, per_message=1).release_once() == 3
    channel = await bus.channel(prefetch=100)
    queue = await channel.get_queue(publisher_queue(Network.MASTODON).name)
    received = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        received.append(ShareRequested.model_validate_json(message.body).share_id)
    await channel.close()
    assert sorted(received) == sorted(s.id for s in await share_rows(clean_db, campaign_id))


async def test_shares_planned_for_later_wait(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 5)
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET planned_at = now() + interval '1 hour' WHERE campaign_id = :c"),
            {"c": campaign_id},
        )
    assert await _releaser(clean_db, bus, servers).release_once() == 0


async def test_lost_shares_are_planned_again_but_not_while_their_queue_has_a_backlog(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 4)
    releaser = _releaser(clean_db, bus, servers)
    assert await releaser.release_once() == 4
    async with clean_db.sessions.begin() as session:
        # Two attempts whose lease ran out (they died); two shares queued for an hour.
        await session.execute(
            text(
                "UPDATE shares SET released_at = now() - interval '1 hour', "
                "lease_until = now() - interval '1 second', status = CASE "
                "WHEN id IN (SELECT id FROM shares WHERE campaign_id = :c ORDER BY id LIMIT 2) "
                "THEN 'publishing' ELSE status END WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )

    async def statuses() -> list[str]:
        return sorted(s.status for s in await share_rows(clean_db, campaign_id))

    # The four messages still wait in the queue: the queued shares are not lost, only slow.
    assert await releaser.sweep_once() == (2, 0)
    assert await statuses() == ["planned", "planned", "queued", "queued"]
    # The queue drains without their outcome (say, dead-lettered): now they are taken again.
    channel = await bus.channel(prefetch=10)
    await (await channel.get_queue(publisher_queue(Network.MASTODON).name)).purge()
    await channel.close()
    assert await releaser.sweep_once() == (2, 0)
    assert await statuses() == ["planned"] * 4
    assert {s.replans for s in await share_rows(clean_db, campaign_id)} == {1}


async def test_an_attempt_within_its_lease_is_left_alone(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 1)
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE shares SET status = 'publishing', lease_until = now() + interval '1 minute'"
                " WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )
    assert await _releaser(clean_db, bus, servers).sweep_once() == (0, 0)


async def test_a_share_lost_again_and_again_fails_with_the_reason(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 1)
    releaser = _releaser(clean_db, bus, servers)
    for _ in range(MAX_REPLANS + 1):
        # Each time: released, claimed, and the attempt dies without an outcome.
        async with clean_db.sessions.begin() as session:
            await session.execute(
                text(
                    "UPDATE shares SET status = 'publishing', reason = 'the process died', "
                    "lease_until = now() - interval '1 second' WHERE campaign_id = :c"
                ),
                {"c": campaign_id},
            )
        await releaser.sweep_once()
    [share] = await share_rows(clean_db, campaign_id)
    assert share.status == "failed" and share.replans == MAX_REPLANS + 1
    assert share.reason is not None and "lost 11 times" in share.reason
    async with clean_db.sessions() as session:
        events = list(await session.scalars(select(OutboxEvent.message_type)))
        status = await session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    assert events == ["ShareFailed", "CampaignCompleted"]
    assert status == "completed"


async def test_a_campaign_with_nobody_to_post_for_completes_when_staged(
    clean_db: Database, org: Org
) -> None:
    campaign_id = await make_campaign(clean_db, org=org)
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    async with clean_db.sessions() as session:
        campaign = await session.scalar(select(Campaign).where(Campaign.id == campaign_id))
        events = list(await session.scalars(select(OutboxEvent.payload)))
    assert campaign is not None and campaign.status == "completed" and campaign.completed_at
    assert [e["campaign_id"] for e in events] == [str(campaign_id)]


async def test_a_queue_that_never_drains_cannot_keep_a_share_waiting_for_ever(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    bus: Bus,
    servers: Servers,
) -> None:
    campaign_id = await _staged(clean_db, org, keyring, sim_http, 2)
    releaser = _releaser(clean_db, bus, servers)
    assert await releaser.release_once() == 2  # both messages stay in the queue: a backlog
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE shares SET released_at = now() - CASE WHEN id = "
                "(SELECT min(id::text)::uuid FROM shares WHERE campaign_id = :c) "
                "THEN interval '4 hours' ELSE interval '1 hour' END WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )
    # Queued 4 hours (past the 3 hours of patience) is taken again despite the backlog.
    assert await releaser.sweep_once() == (1, 0)
    statuses = sorted(s.status for s in await share_rows(clean_db, campaign_id))
    assert statuses == ["planned", "queued"]


async def test_deleting_a_campaign_an_account_or_an_organisation_deletes_their_shares(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    first = await _staged(clean_db, org, keyring, sim_http, 3)
    second = await stage_campaign(
        clean_db, org=org, keyring=keyring, sim=sim_http, count=2, network="x"
    )
    shares = await share_rows(clean_db, first)
    # Ids made by staging: time-ordered (version 7) and distinct, each share's key its own.
    assert {s.id.version for s in shares} == {7} and len({s.id for s in shares}) == 3
    assert all(s.idempotency_key == f"chorus-{s.id}" for s in shares)
    async with clean_db.sessions.begin() as session:
        await session.execute(delete(Account).where(Account.id == shares[0].account_id))
    assert {s.id for s in await share_rows(clean_db, first)} == {s.id for s in shares[1:]}
    async with clean_db.sessions.begin() as session:
        await session.execute(delete(Campaign).where(Campaign.id == first))
    assert await share_rows(clean_db, first) == []
    assert len(await share_rows(clean_db, second)) == 2
    async with clean_db.sessions.begin() as session:
        await session.execute(delete(Organisation).where(Organisation.id == org.id))
    assert await share_rows(clean_db, second) == []


async def test_an_account_deleted_while_its_organisation_stages_loses_the_staged_share(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """Staging reads accounts without locking them: the deletion waits for the staging's lock
    and then sees the share it committed."""
    (account_id,) = await make_accounts(
        clean_db, org=org, keyring=keyring, sim=await sim_accounts(sim_http, count=1)
    )
    campaign_id = await make_campaign(clean_db, org=org)
    async with clean_db.sessions() as staging, clean_db.sessions() as watcher:
        await staging.execute(_LOCK_ORG, {"org_id": str(org.id)})
        await staging.execute(
            insert(Share).values(
                org_id=org.id,
                campaign_id=campaign_id,
                account_id=account_id,
                network="mastodon",
                idempotency_key="chorus-in-flight",
            )
        )
        deleting = asyncio.create_task(_delete_account(clean_db, account_id))
        deadline = asyncio.get_running_loop().time() + 30
        while not await watcher.scalar(text(_WAITING_ON_ADVISORY_LOCK)):
            assert asyncio.get_running_loop().time() < deadline, "the deletion never waited"
            assert not deleting.done(), "the deletion did not wait for the staging"
            await asyncio.sleep(0.05)
            await watcher.rollback()
        await staging.commit()
        await asyncio.wait_for(deleting, 30)
    assert await share_rows(clean_db, campaign_id) == []


_WAITING_ON_ADVISORY_LOCK = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
)


async def _delete_account(db: Database, account_id: uuid.UUID) -> None:
    async with db.sessions.begin() as session:
        await session.execute(delete(Account).where(Account.id == account_id))


async def test_a_copy_failing_mid_way_stages_nothing_and_the_redelivery_stages_each_once(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    """Batches of two, the next planned while one is written: the third batch's COPY breaks
    on a share already there (a crash at that point), and the whole staging is undone."""
    accounts = sorted(
        await make_accounts(
            clean_db, org=org, keyring=keyring, sim=await sim_accounts(sim_http, count=7)
        )
    )
    campaign_id = await make_campaign(clean_db, org=org)
    async with clean_db.sessions.begin() as session:
        blocker = await session.scalar(
            insert(Share)
            .values(
                org_id=org.id,
                campaign_id=campaign_id,
                account_id=accounts[5],
                network="mastodon",
                idempotency_key="chorus-blocker",
            )
            .returning(Share.id)
        )
    handlers = SchedulerHandlers(db=clean_db, rules=StagingRules(batch=2))
    event = CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    with pytest.raises(asyncpg.UniqueViolationError):
        await handlers.campaign_created(event)
    assert [s.id for s in await share_rows(clean_db, campaign_id)] == [blocker]
    async with clean_db.sessions.begin() as session:
        await session.execute(delete(Share).where(Share.id == blocker))
    await handlers.campaign_created(event)
    await handlers.campaign_created(event)  # redelivered after the commit
    shares = await share_rows(clean_db, campaign_id)
    assert sorted(s.account_id for s in shares) == accounts
