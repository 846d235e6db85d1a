"""Queue depths and consumers on /metrics, the dead-letter queue included, read from the real
broker; the oldest share waiting per publisher queue and the accounts whose authorisation runs
out soon, read from the real database. The alert rules are written on these."""

from __future__ import annotations

import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import REGISTRY
from sqlalchemy import text

from chorus.common.bus import Bus
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.shares import due_shares, mark_released
from chorus.common.topology import DEAD_LETTER_QUEUE, SCHEDULER_CAMPAIGNS
from chorus.metrics.gauges import (
    refresh_account_gauges,
    refresh_programme_gauges,
    refresh_queue_gauges,
    refresh_waiting_gauges,
)
from tests.factories import Org, make_accounts, sim_accounts, stage_campaign
from tests.integration.helpers import eventually, publish_raw, queue_depth

pytestmark = pytest.mark.integration


def _depth(queue: str) -> float | None:
    return REGISTRY.get_sample_value("chorus_queue_messages", {"queue": queue})


async def test_queue_gauges_show_waiting_and_dead_lettered_messages(bus: Bus) -> None:
    await publish_raw(bus, routing_key="campaign.created", body=b"{}")
    await publish_raw(bus, routing_key="campaign.created", body=b"{}")
    channel = await bus.channel(prefetch=1)
    queue = await channel.get_queue(SCHEDULER_CAMPAIGNS.name)
    message = await queue.get(fail=True)
    await message.reject(requeue=False)  # into the dead-letter queue
    await channel.close()
    await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 1)
    await refresh_queue_gauges(bus)
    assert _depth(SCHEDULER_CAMPAIGNS.name) == 1
    assert _depth(DEAD_LETTER_QUEUE) == 1
    assert _depth("publisher.mastodon") == 0


def _sample(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_queue_gauges_count_consumers(bus: Bus) -> None:
    await refresh_queue_gauges(bus)
    assert _sample("chorus_queue_consumers", {"queue": SCHEDULER_CAMPAIGNS.name}) == 0
    channel = await bus.channel(prefetch=1)
    queue = await channel.get_queue(SCHEDULER_CAMPAIGNS.name)

    async def take(message: AbstractIncomingMessage) -> None:
        await message.ack()

    tag = await queue.consume(take)
    try:
        await refresh_queue_gauges(bus)
        assert _sample("chorus_queue_consumers", {"queue": SCHEDULER_CAMPAIGNS.name}) == 1
    finally:
        await queue.cancel(tag)
        await channel.close()


async def test_oldest_waiting_share_and_expiring_accounts(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    campaign_id = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=3)
    await refresh_waiting_gauges(clean_db)
    # Planned, not yet released: nothing waits in a queue.
    assert _sample("chorus_queue_oldest_share_seconds", {"queue": "publisher.mastodon"}) == 0
    async with clean_db.sessions.begin() as session:
        due = await due_shares(session=session, limit=10)
        await mark_released(session=session, share_ids=[d.share_id for d in due])
        # One of them was released ten minutes ago and never taken.
        await session.execute(
            text(
                "UPDATE shares SET released_at = now() - interval '10 minutes' "
                "WHERE id = (SELECT id FROM shares WHERE campaign_id = :c LIMIT 1)"
            ),
            {"c": campaign_id},
        )
        # One account's authorisation ends in three days, another's in thirty.
        await session.execute(
            text(
                "UPDATE accounts SET authorized_until = now() + CASE WHEN rn = 1 "
                "THEN interval '3 days' ELSE interval '30 days' END "
                "FROM (SELECT id AS aid, row_number() OVER (ORDER BY id) AS rn FROM accounts "
                "WHERE org_id = :o) r WHERE accounts.id = r.aid AND r.rn <= 2"
            ),
            {"o": org.id},
        )
    await refresh_waiting_gauges(clean_db)
    age = _sample("chorus_queue_oldest_share_seconds", {"queue": "publisher.mastodon"})
    assert age is not None and 600 <= age < 900
    assert _sample("chorus_queue_oldest_share_seconds", {"queue": "publisher.x"}) == 0
    await refresh_account_gauges(clean_db)
    expiring = {"network": "mastodon", "within": "7d"}
    assert _sample("chorus_accounts_authorization_expiring", expiring) == 1
    assert _sample("chorus_accounts_authorization_expiring", {**expiring, "network": "x"}) == 0


async def test_colleagues_and_accounts_by_status_and_consent_mode(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient
) -> None:
    mastodon = await sim_accounts(sim_http, count=3)
    await make_accounts(clean_db, org=org, keyring=keyring, sim=mastodon)
    linkedin = await sim_accounts(sim_http, count=2, network="linkedin")
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=linkedin, network="linkedin", status="needs_reauth"
    )
    async with clean_db.sessions.begin() as session:
        # One colleague paused, one of the Mastodon accounts reviewed before posting.
        await session.execute(
            text(
                "UPDATE ambassadors SET status = 'paused' WHERE id = "
                "(SELECT ambassador_id FROM accounts WHERE network = 'linkedin' LIMIT 1)"
            )
        )
        await session.execute(
            text(
                "UPDATE accounts SET mode = 'review' WHERE id = "
                "(SELECT id FROM accounts WHERE network = 'mastodon' LIMIT 1)"
            )
        )
    await refresh_programme_gauges(clean_db)
    assert _sample("chorus_colleagues", {"status": "active"}) == 4
    assert _sample("chorus_colleagues", {"status": "paused"}) == 1
    assert _sample("chorus_colleagues", {"status": "left"}) == 0

    def accounts(network: str, status: str, mode: str) -> float | None:
        return _sample("chorus_accounts", {"network": network, "status": status, "mode": mode})

    assert accounts("mastodon", "connected", "auto") == 2
    assert accounts("mastodon", "connected", "review") == 1
    assert accounts("linkedin", "needs_reauth", "auto") == 2
    assert accounts("linkedin", "connected", "auto") == 0
    assert accounts("x", "revoked", "review") == 0
    # Counted again from scratch: a colleague who left is no longer active.
    async with clean_db.sessions.begin() as session:
        await session.execute(text("UPDATE ambassadors SET status = 'left'"))
    await refresh_programme_gauges(clean_db)
    assert _sample("chorus_colleagues", {"status": "active"}) == 0
    assert _sample("chorus_colleagues", {"status": "left"}) == 5
