"""A message of many shares: each posted exactly once, through redeliveries, a cut-short first
delivery, a stop half-way and one share that keeps failing; on the real database, the
simulator and, where settling matters, the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text

from chorus.common.bus import Bus, Consumer
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.failures import MessageRejected, RetryLater
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import ShareRequested, SharesRequested, SharesRequests
from chorus.common.topology import DEAD_LETTER_QUEUE, publisher_queue
from chorus.netsim import SimState
from chorus.networks.mastodon import SPEC, MastodonClient
from chorus.publisher.handlers import PublisherHandlers, SharesUnfinished
from chorus.publisher.media import ImageFetcher
from tests.factories import Org, share_rows, stage_campaign
from tests.integration.helpers import eventually, publish_raw, queue_depth

pytestmark = pytest.mark.integration

POSTS = "mastodon.create_status"


def _handlers(
    db: Database,
    sim_net: NetworkHttp,
    keyring: Keyring,
    *,
    in_flight: int = 200,
    stopping: asyncio.Event | None = None,
) -> PublisherHandlers:
    return PublisherHandlers(
        db=db,
        spec=SPEC,
        client=MastodonClient(sim_net),
        keyring=keyring,
        claim_lease=timedelta(seconds=45),
        attempt_deadline=timedelta(seconds=30),
        images=ImageFetcher(sim_net, max_bytes=SPEC.max_image_bytes),
        in_flight=in_flight,
        stopping=stopping,
    )


async def _queued(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient, count: int
) -> SharesRequested:
    campaign_id = await stage_campaign(db, org=org, keyring=keyring, sim=sim, count=count)
    async with db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued' WHERE campaign_id = :c"), {"c": campaign_id}
        )
    ids = [s.id for s in await share_rows(db, campaign_id)]
    return SharesRequested(share_ids=ids, org_id=org.id, network=Network.MASTODON)


async def _statuses(db: Database, request: SharesRequested) -> dict[uuid.UUID, str]:
    async with db.sessions() as session:
        rows = await session.execute(
            text("SELECT id, status FROM shares WHERE id = ANY(:ids)"),
            {"ids": request.share_ids},
        )
        return {row.id: row.status for row in rows}


def _posted_once(sim_state: SimState, count: int) -> None:
    assert len(sim_state.posts) == count
    assert len({p.account_id for p in sim_state.posts.values()}) == count
    assert sim_state.duplicates() == 0


async def _count(probe: Callable[[], int]) -> int:
    return probe()


async def test_a_message_of_many_shares_posts_each_exactly_once(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 12)
    # Fewer places in flight than shares: the message waits for places, never exceeds them.
    handlers = _handlers(clean_db, sim_net, keyring, in_flight=4)
    await handlers.shares_requested(request)
    assert set((await _statuses(clean_db, request)).values()) == {"published"}
    _posted_once(sim_state, 12)
    # A redelivery of the whole message: every share already has its outcome.
    await handlers.shares_requested(request)
    assert sim_state.requests[POSTS] == 12
    _posted_once(sim_state, 12)


async def test_a_redelivery_after_a_cut_short_delivery_posts_nothing_twice(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 12)
    sim_state.faults.latency_ms = 50
    handlers = _handlers(clean_db, sim_net, keyring, in_flight=3)
    first = asyncio.ensure_future(handlers.shares_requested(request))
    await eventually(lambda: _count(lambda: len(sim_state.posts)), until=lambda n: n >= 3)
    # The connection dropped: aio-pika cancels the handler, the broker redelivers.
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    statuses = await _statuses(clean_db, request)
    assert "queued" in statuses.values(), "cut too late to prove anything"
    # The redelivery posts what was never started, and leaves the attempts that were cut off
    # mid-way to their lease.
    await handlers.shares_requested(request)
    # Their lease runs out (the sweeper's cue): the next delivery takes them over, and the
    # idempotency key keeps a post that had reached the network from being made again.
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE shares SET lease_until = now() - interval '1 second' "
                "WHERE status = 'publishing'"
            )
        )
    await handlers.shares_requested(request)
    assert set((await _statuses(clean_db, request)).values()) == {"published"}
    _posted_once(sim_state, 12)


async def test_a_stopping_publisher_starts_no_more_shares_and_hands_the_message_back(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 10)
    sim_state.faults.latency_ms = 50
    stopping = asyncio.Event()
    handlers = _handlers(clean_db, sim_net, keyring, in_flight=2, stopping=stopping)
    first = asyncio.ensure_future(handlers.shares_requested(request))
    await eventually(lambda: _count(lambda: len(sim_state.posts)), until=lambda n: n >= 2)
    stopping.set()  # SIGTERM
    with pytest.raises(RetryLater, match="not started"):
        await first
    statuses = await _statuses(clean_db, request)
    # What was started ended with its outcome; nothing is left half-way.
    assert set(statuses.values()) == {"published", "queued"}
    assert list(statuses.values()).count("published") == len(sim_state.posts) < 10
    # Another replica takes the message back and does the rest.
    await _handlers(clean_db, sim_net, keyring).shares_requested(request)
    assert set((await _statuses(clean_db, request)).values()) == {"published"}
    _posted_once(sim_state, 10)


Poison = Callable[[uuid.UUID], Awaitable[None]]


@pytest.fixture
async def poison(clean_db: Database) -> AsyncIterator[Poison]:
    """Makes one share's claim fail in the database itself, every time: what a bug or a
    corrupted row would do."""

    async def poison_share(share_id: uuid.UUID) -> None:
        async with clean_db.sessions.begin() as session:
            await session.execute(
                text(
                    f"""
                    CREATE FUNCTION test_poison() RETURNS trigger AS $$
                    BEGIN
                        IF NEW.id = '{share_id}' AND NEW.status = 'publishing' THEN
                            RAISE EXCEPTION 'poisoned share';
                        END IF;
                        RETURN NEW;
                    END $$ LANGUAGE plpgsql
                    """
                )
            )
            await session.execute(
                text(
                    "CREATE TRIGGER test_poison BEFORE UPDATE ON shares "
                    "FOR EACH ROW EXECUTE FUNCTION test_poison()"
                )
            )

    yield poison_share
    async with clean_db.sessions.begin() as session:
        await session.execute(text("DROP TRIGGER IF EXISTS test_poison ON shares"))
        await session.execute(text("DROP FUNCTION IF EXISTS test_poison()"))


async def test_one_failing_share_fails_alone_and_the_others_are_recorded(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
    poison: Poison,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 5)
    bad = request.share_ids[2]
    await poison(bad)
    handlers = _handlers(clean_db, sim_net, keyring)
    with pytest.raises(SharesUnfinished, match="1 of the message's 5 shares"):
        await handlers.shares_requested(request)
    statuses = await _statuses(clean_db, request)
    assert statuses.pop(bad) == "queued"
    assert set(statuses.values()) == {"published"}
    # The redelivery tries only the failed one: nothing else is posted again.
    with pytest.raises(SharesUnfinished):
        await handlers.shares_requested(request)
    assert sim_state.requests[POSTS] == 4
    _posted_once(sim_state, 4)


async def _consume(bus: Bus, handlers: PublisherHandlers) -> Consumer[SharesRequests]:
    consumer = Consumer(
        bus=bus,
        queue=publisher_queue(Network.MASTODON),
        model=SharesRequests,
        handler=handlers.requested,
        prefetch=4,
    )
    await consumer.start()
    return consumer


async def test_a_poison_share_dead_letters_its_message_only_after_the_others_are_done(
    clean_db: Database,
    bus: Bus,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
    poison: Poison,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 5)
    bad = request.share_ids[0]
    await poison(bad)
    consumer = await _consume(bus, _handlers(clean_db, sim_net, keyring))
    try:
        await bus.publish(request)
        # The tests' queues take 3 deliveries: then the message is dead-lettered.
        await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 1)
    finally:
        await consumer.stop(grace=5)
    statuses = await _statuses(clean_db, request)
    # The poison share stays queued: the sweeper plans it again (and fails it after its
    # replans), it is not lost. The others were posted once, on the first delivery.
    assert statuses.pop(bad) == "queued"
    assert set(statuses.values()) == {"published"}
    assert sim_state.requests[POSTS] == 4
    _posted_once(sim_state, 4)


async def test_a_one_share_message_of_an_earlier_release_is_still_posted(
    clean_db: Database,
    bus: Bus,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 2)
    consumer = await _consume(bus, _handlers(clean_db, sim_net, keyring))
    try:
        for share_id in request.share_ids:
            await bus.publish(
                ShareRequested(share_id=share_id, org_id=org.id, network=Network.MASTODON)
            )
        await eventually(lambda: _count(lambda: len(sim_state.posts)), until=lambda n: n == 2)
    finally:
        await consumer.stop(grace=5)
    assert set((await _statuses(clean_db, request)).values()) == {"published"}
    _posted_once(sim_state, 2)


async def test_bad_messages_are_dead_lettered_and_change_nothing(
    clean_db: Database,
    bus: Bus,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued(clean_db, org, keyring, sim_http, 2)
    handlers = _handlers(clean_db, sim_net, keyring)
    with pytest.raises(MessageRejected, match="x shares on the mastodon queue"):
        await handlers.shares_requested(request.model_copy(update={"network": Network.X}))
    ids = [str(i) for i in request.share_ids]

    def body(share_ids: list[str], network: str = "mastodon") -> bytes:
        return json.dumps(
            {"share_ids": share_ids, "org_id": str(org.id), "network": network}
        ).encode()

    bodies = [
        body([]),  # no share
        body([ids[0], ids[1], ids[0]]),  # one share twice
        body([str(uuid.uuid4()) for _ in range(501)]),  # more than a message may carry
        body(ids, network="x"),  # another network's shares on this queue
    ]
    consumer = await _consume(bus, handlers)
    try:
        for raw in bodies:
            await publish_raw(bus, routing_key="share.requested.mastodon", body=raw)
        await eventually(lambda: queue_depth(bus, DEAD_LETTER_QUEUE), until=lambda n: n == 4)
    finally:
        await consumer.stop(grace=5)
    assert set((await _statuses(clean_db, request)).values()) == {"queued"}
    assert sim_state.requests[POSTS] == 0


async def test_two_deliveries_of_a_message_at_once_post_each_share_once(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    # A publisher that takes over after a crash gets the dead one's message redelivered and
    # the same shares released again by the sweep, together: their claims meet in one batch.
    request = await _queued(clean_db, org, keyring, sim_http, 12)
    handlers = _handlers(clean_db, sim_net, keyring)
    await asyncio.gather(handlers.shares_requested(request), handlers.shares_requested(request))
    assert set((await _statuses(clean_db, request)).values()) == {"published"}
    # One POST per share: the second delivery's asks got no claim, not the first one's.
    assert sim_state.requests[POSTS] == 12
    _posted_once(sim_state, 12)
