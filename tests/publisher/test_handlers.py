"""Posting a share, handler called directly, on the real database and the simulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import select, text

from chorus.common.credentials import Credentials, Keyring, erase_credentials, new_key
from chorus.common.db import Database
from chorus.common.failures import MessageRejected
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import ShareRequested
from chorus.common.models import OutboxEvent
from chorus.common.retry import MAX_RATE_WAITS, PUBLISH_ATTEMPTS
from chorus.common.shares import Delayed, record_outcomes
from chorus.netsim import SimState
from chorus.networks.mastodon import SPEC, MastodonClient
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from tests.factories import Org, network_http, share_rows, stage_campaign

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=45)
TEXT = "Hello from the test\n\nhttps://example.com/a"


def _handlers(
    db: Database, sim_net: NetworkHttp, keyring: Keyring, deadline: float = 30
) -> PublisherHandlers:
    return PublisherHandlers(
        db=db,
        spec=SPEC,
        client=MastodonClient(sim_net),
        keyring=keyring,
        claim_lease=LEASE,
        attempt_deadline=timedelta(seconds=deadline),
        images=ImageFetcher(sim_net, max_bytes=SPEC.max_image_bytes),
    )


@pytest.fixture
def handlers(clean_db: Database, sim_net: NetworkHttp, keyring: Keyring) -> PublisherHandlers:
    return _handlers(clean_db, sim_net, keyring)


async def _queued_share(
    db: Database, org: Org, keyring: Keyring, sim: httpx.AsyncClient
) -> ShareRequested:
    campaign_id = await stage_campaign(
        db, org=org, keyring=keyring, sim=sim, count=1, message="Hello from the test"
    )
    [share] = await share_rows(db, campaign_id)
    await _set(db, share.id, "status = 'queued'")
    return ShareRequested(share_id=share.id, org_id=org.id, network=Network.MASTODON)


async def _set(db: Database, share_id: uuid.UUID, assignments: str, **params: Any) -> None:
    async with db.sessions.begin() as session:
        await session.execute(
            text(f"UPDATE shares SET {assignments} WHERE id = :id"), {"id": share_id, **params}
        )


async def _share(db: Database, request: ShareRequested) -> Any:
    async with db.sessions() as session:
        return (
            await session.execute(
                text("SELECT * FROM shares WHERE id = :id"), {"id": request.share_id}
            )
        ).one()


async def _events(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list(await session.scalars(select(OutboxEvent.message_type)))


async def _make_ready(db: Database, request: ShareRequested) -> None:
    """As if its delay were over."""
    await _set(db, request.share_id, "planned_at = now()")


async def test_publishes_once_records_remote_id_and_announces_it(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await handlers.share_requested(request)
    await handlers.share_requested(request)  # a redelivery
    share = await _share(clean_db, request)
    assert share.status == "published" and share.remote_id in sim_state.posts
    assert share.lease_until is None
    [post] = sim_state.posts.values()
    assert post.text == TEXT
    assert post.idempotency_key == share.idempotency_key
    # The campaign's only share has its outcome: the campaign is completed, and says so.
    assert await _events(clean_db) == ["SharesPublished", "CampaignCompleted"]


async def test_a_redelivery_during_a_live_attempt_does_nothing_and_a_dead_one_is_taken_over(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    share = await _share(clean_db, request)
    # An earlier process recorded its intent and reached the network, then died.
    await _set(
        clean_db,
        share.id,
        "status = 'publishing', first_attempt_at = now(), claim_token = gen_random_uuid(), "
        "lease_until = now() + interval '45 seconds'",
    )
    [account] = sim_state.accounts.values()
    await sim_http.post(
        "/mastodon/api/v1/statuses",
        headers={
            "Authorization": f"Bearer {account.token}",
            "Idempotency-Key": share.idempotency_key,
        },
        json={"status": TEXT},
    )
    # Redelivered at once: for all we know that attempt is still running. The message is
    # settled without a request: if the attempt died, its lease runs out and it is taken again.
    await handlers.share_requested(request)
    assert sim_state.requests["mastodon.create_status"] == 1
    assert (await _share(clean_db, request)).status == "publishing"
    # Past the lease the share is taken over, and the key makes the retry return the post.
    await _set(clean_db, share.id, "lease_until = now() - interval '1 second'")
    await handlers.share_requested(request)
    assert len(sim_state.posts) == 1 and sim_state.duplicates() == 0
    assert (await _share(clean_db, request)).status == "published"


async def test_an_outcome_from_an_attempt_that_lost_its_claim_is_ignored(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    share = await handlers._claims.submit((request.share_id, request.org_id))
    assert share is not None
    # Its lease ran out and another attempt took the share over (a new token).
    await _set(clean_db, request.share_id, "claim_token = gen_random_uuid()")
    late = Delayed(share.claim, datetime.now(UTC), "late", spent=1)
    async with clean_db.sessions.begin() as session:
        assert await record_outcomes(session=session, outcomes=[late]) == [False]
    after = await _share(clean_db, request)
    assert after.status == "publishing" and after.attempts == 0


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
    await _set(
        db,
        share.id,
        "status = 'publishing', claim_token = gen_random_uuid(), "
        "first_attempt_at = now() - make_interval(secs => :secs), "
        "lease_until = now() - make_interval(secs => :secs) + interval '45 seconds'",
        secs=hours_ago * 3600,
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
            json={"status": TEXT},
        )
        remote_id = str(posted.json()["id"])
    # As much time passes at the network: it no longer knows the idempotency key.
    await sim_http.post("/_sim/clock", json={"advance_seconds": hours_ago * 3600})
    return remote_id


async def test_retry_after_the_key_expired_finds_the_earlier_post_and_posts_nothing(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    remote_id = await _earlier_attempt(
        clean_db, request, sim_http, sim_state, hours_ago=2, reached_network=True
    )
    await handlers.share_requested(request)
    assert len(sim_state.posts) == 1 and sim_state.duplicates() == 0
    share = await _share(clean_db, request)
    assert share.status == "published" and share.remote_id == remote_id
    assert await _events(clean_db) == ["SharesPublished", "CampaignCompleted"]


async def test_retry_after_the_key_expired_posts_when_the_earlier_attempt_never_arrived(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
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
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
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
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["429"]})
    await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "planned" and share.attempts == 0 and share.rate_waits == 1
    assert share.planned_at > datetime.now(UTC) + timedelta(seconds=1)
    assert "429" in share.reason
    # A stray delivery before its time does not post it.
    await handlers.share_requested(request)
    assert sim_state.posts == {}


def _reset_at(when: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429,
            json={"error": "Too many requests"},
            headers={"X-RateLimit-Limit": "300", "X-RateLimit-Reset": when},
        )

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("reset", "at_least", "at_most"),
    [
        # A reset in the past would re-release the share at once, in a loop spending nothing.
        ("2020-01-01T00:00:00.000Z", timedelta(seconds=4), timedelta(seconds=10)),
        # A reset in the year 9999 would park it for ever.
        ("9999-12-31T23:59:59.000Z", timedelta(hours=24), timedelta(hours=25, seconds=5)),
    ],
)
async def test_a_429_reset_time_is_clamped(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    reset: str,
    at_least: timedelta,
    at_most: timedelta,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    http = network_http(transport=_reset_at(reset))
    await _handlers(clean_db, http, keyring).share_requested(request)
    share = await _share(clean_db, request)
    wait = share.planned_at - datetime.now(UTC)
    assert share.status == "planned" and at_least <= wait <= at_most


async def test_rate_limit_waits_are_bounded(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await _set(clean_db, request.share_id, "rate_waits = :n", n=MAX_RATE_WAITS)
    await sim_http.post("/_sim/faults", json={"next": ["429"]})
    before = _failures("rate_limited")
    await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and "rate limit" in share.reason
    assert _failures("rate_limited") == before + 1  # the dashboards' "failed by kind"


async def test_5xx_retries_later_and_fails_after_the_last_attempt(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["500"] * PUBLISH_ATTEMPTS})
    before = _failures("exhausted")
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        await _make_ready(clean_db, request)
        await handlers.share_requested(request)
        share = await _share(clean_db, request)
        assert share.attempts == attempt
    assert share.status == "failed" and "gave up after" in share.reason
    assert await _events(clean_db) == ["ShareFailed", "CampaignCompleted"]
    assert _failures("exhausted") == before + 1


def _failures(kind: str) -> float:
    labels = {"network": "mastodon", "kind": kind}
    return REGISTRY.get_sample_value("chorus_share_failures_total", labels) or 0.0


async def test_an_ambiguous_timeout_waits_for_the_first_request_before_any_retry(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
    sim_app: FastAPI,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    http = network_http(app=sim_app, deadline=0.3)
    await _handlers(clean_db, http, keyring).share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "planned" and share.attempts == 1
    # Backoff alone would be ~2 s; the network gets a minute to finish the first request.
    settle = SPEC.settle_after_ambiguous - timedelta(seconds=2)
    assert share.planned_at >= datetime.now(UTC) + settle
    assert len(sim_state.posts) == 1  # the first request did post


async def test_an_attempt_ends_within_its_deadline_well_inside_the_lease(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    # The share needs a look-up first, then the post, which is slow: each call is within its
    # own deadline, but the attempt as a whole is cut at its deadline, long before its lease
    # would let another attempt take over.
    await _set(
        clean_db,
        request.share_id,
        "first_attempt_at = now() - interval '2 hours', planned_at = now()",
    )
    await sim_http.post("/_sim/faults", json={"latency_ms": 1500})
    started = datetime.now(UTC)
    await _handlers(clean_db, sim_net, keyring, deadline=0.5).share_requested(request)
    share = await _share(clean_db, request)
    assert datetime.now(UTC) - started < timedelta(seconds=5)
    assert share.status == "planned" and "outlived" in share.reason


async def test_an_unexpected_error_spends_attempts_until_the_share_fails(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    # A non-ASCII token makes the HTTP library raise UnicodeEncodeError before anything leaves.
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE accounts SET credentials = :sealed"),
            {"sealed": keyring.seal(Credentials(access_token="tökén"))},
        )
    for _ in range(PUBLISH_ATTEMPTS):
        await _make_ready(clean_db, request)
        await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and share.attempts == PUBLISH_ATTEMPTS
    assert "UnicodeEncodeError" in share.reason


async def test_consent_withdrawn_just_after_the_claim_stops_the_post(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    share = await handlers._claims.submit((request.share_id, request.org_id))
    assert share is not None and share.account_connected
    async with clean_db.sessions.begin() as session:
        await erase_credentials(
            session=session,
            org_id=org.id,
            account_id=share.claim.account_id,
            actor="cms",
            reason="consent withdrawn",
        )
    outcome = await handlers.attempts.run(share)
    assert outcome is not None
    assert await handlers._outcomes.submit((outcome, None))
    assert sim_state.requests["mastodon.create_status"] == 0
    after = await _share(clean_db, request)
    assert after.status == "cancelled" and "consent withdrawn" in after.reason


async def test_revoked_token_fails_that_share_only(
    handlers: PublisherHandlers,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    [account] = sim_state.accounts.values()
    sim_state.by_token.pop(account.token)
    await handlers.share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and "access token is invalid" in share.reason
    # The account is marked for re-authorisation in the same transaction, and says so.
    assert await _events(clean_db) == ["AccountNeedsReauth", "ShareFailed", "CampaignCompleted"]


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
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    forged = ShareRequested(
        share_id=request.share_id, org_id=uuid.uuid4(), network=Network.MASTODON
    )
    await handlers.share_requested(forged)
    assert sim_state.posts == {}
    assert (await _share(clean_db, request)).status == "queued"


async def test_unreadable_credentials_fail_the_share_with_a_reason(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    request = await _queued_share(clean_db, org, keyring, sim_http)
    await _handlers(clean_db, sim_net, Keyring([new_key()])).share_requested(request)
    share = await _share(clean_db, request)
    assert share.status == "failed" and "credentials cannot be opened" in share.reason
    assert sim_state.posts == {}
    assert await _events(clean_db) == ["ShareFailed", "CampaignCompleted"]
