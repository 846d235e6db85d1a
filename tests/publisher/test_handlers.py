"""Posting a share, handler called directly, on the real database and the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, text

from chorus.common.credentials import CredentialsBox, new_key
from chorus.common.db import Database
from chorus.common.failures import MessageRejected, RetryLater
from chorus.common.messages import ShareRequested
from chorus.common.models import OutboxEvent
from chorus.common.networks import Network
from chorus.common.networks.mastodon import MastodonClient
from chorus.common.retry import PUBLISH_ATTEMPTS
from chorus.netsim import SimState
from chorus.publisher.handlers import PublisherHandlers
from tests.factories import Org, share_rows, stage_campaign

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=45)


@pytest.fixture
def handlers(
    clean_db: Database, sim_http: httpx.AsyncClient, credentials: CredentialsBox
) -> PublisherHandlers:
    return PublisherHandlers(
        db=clean_db,
        client=MastodonClient(http=sim_http),
        credentials=credentials,
        claim_lease=LEASE,
    )


async def _queued_share(
    db: Database, org: Org, box: CredentialsBox, sim: httpx.AsyncClient
) -> ShareRequested:
    campaign_id = await stage_campaign(
        db, org=org, box=box, sim=sim, count=1, message="Hello from the test"
    )
    [share] = await share_rows(db, campaign_id)
    async with db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued' WHERE id = :id"), {"id": share.id}
        )
    return ShareRequested(share_id=share.id, org_id=org.id, network=Network.MASTODON)


async def _share(db: Database, request: ShareRequested):  # type: ignore[no-untyped-def]
    async with db.sessions() as session:
        return (
            await session.execute(
                text("SELECT * FROM shares WHERE id = :id"), {"id": request.share_id}
            )
        ).one()


async def _events(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list(await session.scalars(select(OutboxEvent.message_type)))


async def test_publishes_once_records_remote_id_and_announces_it(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    await handlers.share_requested(request)
    await handlers.share_requested(request)  # a redelivery
    share = await _share(clean_db, request)
    assert share.status == "published" and share.remote_id in sim_state.posts
    [post] = sim_state.posts.values()
    assert post.text == "Hello from the test\n\nhttps://example.com/a"
    assert post.idempotency_key == share.idempotency_key
    assert await _events(clean_db) == ["SharePublished"]


async def test_killed_mid_post_then_redelivered_posts_once(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    share = await _share(clean_db, request)
    # The earlier process recorded its intent and reached the network, then died.
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE shares SET status = 'publishing', first_attempt_at = now() WHERE id = :id"
            ),
            {"id": share.id},
        )
    [account] = sim_state.accounts.values()
    await sim_http.post(
        "/mastodon/api/v1/statuses",
        headers={
            "Authorization": f"Bearer {account.token}",
            "Idempotency-Key": share.idempotency_key,
        },
        json={"status": "Hello from the test\n\nhttps://example.com/a"},
    )
    # Redelivered at once: for all we know that attempt is still running, so the message waits.
    with pytest.raises(RetryLater):
        await handlers.share_requested(request)
    assert sim_state.requests["mastodon.create_status"] == 1
    # Past the lease the share is taken over, and the key makes the retry return the post.
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET updated_at = now() - CAST(:lease AS interval) WHERE id = :id"),
            {"id": share.id, "lease": LEASE},
        )
    await handlers.share_requested(request)
    assert len(sim_state.posts) == 1 and sim_state.duplicates() == 0
    assert (await _share(clean_db, request)).status == "published"


async def _earlier_attempt(
    db: Database,
    request: ShareRequested,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
    *,
    hours_ago: float,
    reached_network: bool,
) -> str | None:
    """A process claimed the share `hours_ago`, maybe posted it, and died before recording."""
    share = await _share(db, request)
    async with db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE shares SET status = 'publishing', "
                "first_attempt_at = now() - make_interval(secs => :secs), "
                "updated_at = now() - make_interval(secs => :secs) WHERE id = :id"
            ),
            {"id": share.id, "secs": hours_ago * 3600},
        )
    remote_id = None
    if reached_network:
        [account] = sim_state.accounts.values()
        posted = await sim_http.post(
            "/mastodon/api/v1/statuses",
            headers={
                "Authorization": f"Bearer {account.token}",
                "Idempotency-Key": share.idempotency_key,
            },
            json={"status": "Hello from the test\n\nhttps://example.com/a"},
        )
        remote_id = str(posted.json()["id"])
    # As much time passes at the network: it no longer knows the idempotency key.
    await sim_http.post("/_sim/clock", json={"advance_seconds": hours_ago * 3600})
    return remote_id


async def test_retry_after_the_key_expired_finds_the_earlier_post_and_posts_nothing(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    remote_id = await _earlier_attempt(
        clean_db, request, sim_http, sim_state, hours_ago=2, reached_network=True
    )
    await handlers.share_requested(request)
    assert len(sim_state.posts) == 1 and sim_state.duplicates() == 0
    share = await _share(clean_db, request)
    assert share.status == "published" and share.remote_id == remote_id
    assert await _events(clean_db) == ["SharePublished"]


async def test_retry_after_the_key_expired_posts_when_the_earlier_attempt_never_arrived(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    await _earlier_attempt(
        clean_db, request, sim_http, sim_state, hours_ago=2, reached_network=False
    )
    await handlers.share_requested(request)
    assert sim_state.requests["mastodon.account_statuses"] == 1
    assert len(sim_state.posts) == 1
    assert (await _share(clean_db, request)).status == "published"


async def test_retry_within_the_key_window_trusts_the_key_without_a_lookup(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    await _earlier_attempt(
        clean_db, request, sim_http, sim_state, hours_ago=0.25, reached_network=True
    )
    await handlers.share_requested(request)
    assert sim_state.requests["mastodon.account_statuses"] == 0
    assert len(sim_state.posts) == 1 and sim_state.duplicates() == 0


async def test_429_delays_to_the_networks_reset_without_spending_an_attempt(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["429"]})
    await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "planned" and share.attempts == 0
    assert share.planned_at > datetime.now(UTC) + timedelta(seconds=1)
    assert "429" in share.reason
    # A stray delivery before its time does not post it.
    await handlers.share_requested(request)
    assert sim_state.posts == {}


async def test_5xx_retries_later_and_fails_after_the_last_attempt(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["500"] * PUBLISH_ATTEMPTS})
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        async with clean_db.sessions.begin() as session:  # as if its delay were over
            await session.execute(
                text("UPDATE shares SET planned_at = now() WHERE id = :id"),
                {"id": request.share_id},
            )
        await handlers.share_requested(request)
        share = await _share(clean_db, request)
        assert share.attempts == attempt
    assert share.status == "failed" and "gave up after" in share.reason
    assert await _events(clean_db) == ["ShareFailed"]


async def test_revoked_token_fails_that_share_only(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    [account] = sim_state.accounts.values()
    sim_state.by_token.pop(account.token)
    await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and "access token is invalid" in share.reason
    assert await _events(clean_db) == ["ShareFailed"]


async def test_unknown_share_is_a_no_op_and_wrong_network_is_rejected(
    handlers: PublisherHandlers, org: Org, sim_state: SimState
) -> None:
    await handlers.share_requested(
        ShareRequested(share_id=uuid.uuid4(), org_id=org.id, network=Network.MASTODON)
    )
    assert sim_state.posts == {}
    with pytest.raises(MessageRejected):
        await handlers.share_requested(
            ShareRequested(share_id=uuid.uuid4(), org_id=org.id, network=Network.X)
        )


async def test_a_message_naming_another_organisation_never_touches_the_share(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'publishing' WHERE id = :id"),
            {"id": request.share_id},
        )
    forged = ShareRequested(
        share_id=request.share_id, org_id=uuid.uuid4(), network=Network.MASTODON
    )
    await handlers.share_requested(forged)  # a no-op: not "wait for the attempt under way"
    assert sim_state.posts == {}
    assert (await _share(clean_db, request)).status == "publishing"


async def test_unreadable_credentials_fail_the_share_with_a_reason(
    clean_db: Database,
    org: Org,
    credentials: CredentialsBox,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, credentials, sim_http)
    other_key = PublisherHandlers(
        db=clean_db,
        client=MastodonClient(http=sim_http),
        credentials=CredentialsBox(new_key()),
        claim_lease=LEASE,
    )
    await other_key.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and "credentials cannot be opened" in share.reason
    assert sim_state.posts == {}
    assert await _events(clean_db) == ["ShareFailed"]
