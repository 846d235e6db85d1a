"""The published shares of a batch of outcomes leave in as few event messages as their bound
allows, each with the trace of its first share that has one; bound 1 sends the one-share event
of earlier releases, each with its own trace."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, text

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import PublishedShares, SharePublished, SharesRequested
from chorus.common.models import OutboxEvent
from chorus.common.shares import Published, claim_many, record_outcomes
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.settings import PublisherSettings
from tests.factories import Org, share_rows, stage_campaign

pytestmark = pytest.mark.integration


def _trace(n: int) -> str:
    return f"00-{n:032x}-{n:016x}-01"


@pytest.mark.parametrize(
    ("per_message", "sizes", "types"),
    [
        (500, [5], {"SharesPublished"}),
        (2, [2, 2, 1], {"SharesPublished"}),
        (1, [1, 1, 1, 1, 1], {"SharePublished"}),
    ],
)
async def test_published_shares_go_out_in_messages_of_at_most_the_bound(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    per_message: int,
    sizes: list[int],
    types: set[str],
) -> None:
    campaign_id = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=5)
    ids = sorted(s.id for s in await share_rows(clean_db, campaign_id))
    async with clean_db.engine.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued' WHERE campaign_id = :c"), {"c": campaign_id}
        )
        claimed = await claim_many(
            session=session, requests=[(i, org.id) for i in ids], lease=timedelta(minutes=1)
        )
        # The first share has no trace of its own: its message goes on with the second's.
        traces = {share_id: _trace(n) for n, share_id in enumerate(ids) if n > 0}
        recorded = await record_outcomes(
            session=session,
            outcomes=[Published(c.claim, f"r{n}", None) for n, c in enumerate(claimed) if c],
            traces=traces,
            published_per_message=per_message,
        )
    assert recorded == [True] * 5
    async with clean_db.sessions() as session:
        rows = (
            await session.execute(
                select(OutboxEvent.message_type, OutboxEvent.payload, OutboxEvent.traceparent)
                .where(OutboxEvent.routing_key == SharePublished.ROUTING_KEY)
                .order_by(OutboxEvent.id)
            )
        ).all()
    assert {row.message_type for row in rows} == types
    messages = [PublishedShares.model_validate(row.payload).events() for row in rows]
    assert [len(events) for events in messages] == sizes
    assert [e.share_id for events in messages for e in events] == ids
    assert [e.remote_id for events in messages for e in events] == [f"r{n}" for n in range(5)]
    # Each message carries the trace of its first share that has one (none for the first
    # share's own one-share message).
    assert [row.traceparent for row in rows] == [
        next((traces[e.share_id] for e in events if e.share_id in traces), None)
        for events in messages
    ]
    assert rows[0].traceparent == (None if per_message == 1 else _trace(1))


async def test_a_bound_outside_what_a_message_may_carry_is_refused(clean_db: Database) -> None:
    async with clean_db.engine.begin() as session:
        for bound in (0, 501):
            with pytest.raises(ValueError, match="published_per_message must be 1 to 500"):
                await record_outcomes(session=session, outcomes=[], published_per_message=bound)


@pytest.mark.parametrize(("per_message", "kind"), [(1, "SharePublished"), (500, "SharesPublished")])
async def test_the_publishers_setting_reaches_its_outcomes(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    per_message: int,
    kind: str,
) -> None:
    # The rolling-upgrade knob, through the service's own wiring: ignored, an older metrics
    # service would dead-letter every published share's event.
    settings = PublisherSettings(
        network=Network.MASTODON, published_per_message=per_message, prefetch=10
    )
    handlers = PublisherHandlers.from_settings(
        settings, db=clean_db, http=sim_net, keyring=keyring, stop=asyncio.Event()
    )
    campaign_id = await stage_campaign(clean_db, org=org, keyring=keyring, sim=sim_http, count=3)
    async with clean_db.engine.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued' WHERE campaign_id = :c"), {"c": campaign_id}
        )
    ids = [s.id for s in await share_rows(clean_db, campaign_id)]
    await handlers.shares_requested(
        SharesRequested(share_ids=ids, org_id=org.id, network=Network.MASTODON)
    )
    async with clean_db.sessions() as session:
        written = (
            await session.execute(
                select(OutboxEvent.message_type, OutboxEvent.payload).where(
                    OutboxEvent.routing_key == SharePublished.ROUTING_KEY
                )
            )
        ).all()
    # However the three outcomes were batched, each message is of the kind the setting says.
    assert {row.message_type for row in written} == {kind}
    shares = [
        e.share_id for row in written for e in PublishedShares.model_validate(row.payload).events()
    ]
    assert sorted(shares) == sorted(ids)
