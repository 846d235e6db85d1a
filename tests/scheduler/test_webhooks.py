"""Webhooks to the CMS on the real database and broker, to a real HTTP receiver on loopback:
signed, retried after the CMS was down, one delivery per event and endpoint."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from chorus.common.addresses import AddressPolicy
from chorus.common.bus import Bus, Consumer
from chorus.common.credentials import Keyring, erase_credentials, mark_needs_reauth
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import (
    AccountNeedsReauth,
    CampaignCancelled,
    CampaignCompleted,
    ConsentWithdrawn,
    ShareFailed,
)
from chorus.common.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from chorus.common.topology import SCHEDULER_WEBHOOKS
from chorus.common.webhooks import verify
from chorus.gateway.problems import Problem
from chorus.gateway.webhooks import enable_endpoint, redeliver
from chorus.scheduler.webhook_events import WebhookEvent, WebhookEvents
from chorus.scheduler.webhook_sender import GONE_REASON, WebhookSender
from tests.factories import Org, make_accounts, make_org

pytestmark = pytest.mark.integration

SECRET = "whsec_test-secret"


@dataclass
class Receiver:
    """A CMS on loopback: answers the scripted statuses in turn (then 200), keeps every
    request as received."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", got.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    got.url = f"http://127.0.0.1:{port}/hooks"
    yield got
    await runner.cleanup()


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def loopback_http() -> AsyncIterator[NetworkHttp]:
    # The receiver is on loopback over plain http: what CHORUS_WEBHOOKS_ALLOW_PRIVATE allows.
    http = NetworkHttp(policy=AddressPolicy(allow_private=True), deadline=5, max_bytes=1 << 16)
    yield http
    await http.aclose()


def sender_for(
    db: Database, keyring: Keyring, http: NetworkHttp, clock: Callable[[], datetime], **kw: Any
) -> WebhookSender:
    return WebhookSender(
        db=db,
        keyring=keyring,
        http=http,
        database_url=None,
        max_attempts=kw.pop("max_attempts", 10),
        clock=clock,
        jitter=lambda: 0.0,
        **kw,
    )


async def add_endpoint(
    db: Database, keyring: Keyring, *, org: Org, url: str, events: list[str], active: bool = True
) -> uuid.UUID:
    async with db.sessions.begin() as session:
        endpoint_id: uuid.UUID | None = await session.scalar(
            insert(WebhookEndpoint)
            .values(
                org_id=org.id,
                url=url,
                sealed_secret=keyring.seal_text(SECRET),
                events=events,
                active=active,
            )
            .returning(WebhookEndpoint.id)
        )
    assert endpoint_id is not None
    return endpoint_id


async def deliveries(db: Database, endpoint_id: uuid.UUID | None = None) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    async with db.sessions() as session:
        return list(await session.scalars(query))


def share_failed(org: Org) -> ShareFailed:
    return ShareFailed(
        share_id=uuid.uuid4(),
        org_id=org.id,
        campaign_id=uuid.uuid4(),
        network=Network.MASTODON,
        reason="mastodon 401: the token was revoked",
    )


async def test_signed_and_delivered_on_a_later_attempt_after_the_cms_was_down(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=receiver.url, events=["share.failed"]
    )
    event = share_failed(org)
    await WebhookEvents(db=clean_db).event(WebhookEvent(event))
    receiver.statuses = [503]
    clock = Clock()
    sender = sender_for(clean_db, keyring, loopback_http, clock)

    first = await sender.send_once()
    assert [a.status_code for a in first] == [503]
    [row] = await deliveries(clean_db, endpoint)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 503)
    assert row.next_attempt_at == clock.now + timedelta(seconds=30)
    assert await sender.send_once() == []  # not due yet: the CMS gets its 30 s

    clock.now += timedelta(seconds=31)
    second = await sender.send_once()
    assert [a.status_code for a in second] == [200]
    [row] = await deliveries(clean_db, endpoint)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert row.delivered_at == clock.now
    assert [(a["status_code"], a.get("error")) for a in row.attempt_log] == [
        (503, "the endpoint answered 503"),
        (200, None),
    ]
    assert await sender.send_once() == []

    assert len(receiver.received) == 2
    for headers, body in receiver.received:
        assert headers["Chorus-Webhook-Id"] == str(event.event_id)
        assert headers["Content-Type"] == "application/json"
        stamp = int(headers["Chorus-Webhook-Timestamp"])
        signature = headers["Chorus-Signature"]
        assert signature.startswith(f"t={stamp},v1=")
        assert verify(SECRET, signature, body, now=stamp)
        assert not verify(SECRET, signature, body.replace(b"401", b"402"), now=stamp)
        assert not verify("whsec_another", signature, body, now=stamp)
        assert not verify(SECRET, signature, body, now=stamp + 301)  # a replay, too late
        sent = json.loads(body)
        assert sent["id"] == str(event.event_id) and sent["type"] == "share.failed"
        assert sent["data"]["share_id"] == str(event.share_id)
        assert sent["data"]["reason"] == event.reason
        assert "event_id" not in sent["data"]
    # Each attempt signs with its own time.
    stamps = [int(h["Chorus-Webhook-Timestamp"]) for h, _ in receiver.received]
    assert stamps[1] - stamps[0] == 31


async def test_a_cms_down_for_good_fails_the_delivery_after_the_last_attempt(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=receiver.url, events=["share.failed"]
    )
    await WebhookEvents(db=clean_db).event(WebhookEvent(share_failed(org)))
    receiver.statuses = [500, 500, 500]
    clock = Clock()
    sender = sender_for(clean_db, keyring, loopback_http, clock, max_attempts=3)
    waits = []
    for _ in range(3):
        assert len(await sender.send_once()) == 1
        [row] = await deliveries(clean_db, endpoint)
        waits.append(row.next_attempt_at - clock.now)
        clock.now += timedelta(days=1)
    assert waits[:2] == [timedelta(seconds=30), timedelta(minutes=2)]
    assert (row.status, row.attempts, len(row.attempt_log)) == ("failed", 3, 3)
    assert await sender.send_once() == []


async def test_a_crashed_senders_claim_is_taken_over_when_its_lease_ends(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    await add_endpoint(clean_db, keyring, org=org, url=receiver.url, events=["share.failed"])
    await WebhookEvents(db=clean_db).event(WebhookEvent(share_failed(org)))
    clock = Clock()
    crashed = sender_for(clean_db, keyring, loopback_http, clock)

    async def hang(*_args: Any, **_kwargs: Any) -> Any:
        await asyncio.Event().wait()

    crashed._attempt = hang  # type: ignore[method-assign]
    task = asyncio.create_task(crashed.send_once())
    deadline = time.monotonic() + 10
    while (await deliveries(clean_db))[0].next_attempt_at <= clock.now:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    task.cancel()  # the scheduler died mid-call: nothing recorded

    other = sender_for(clean_db, keyring, loopback_http, clock)
    assert await other.send_once() == []  # its lease still holds
    clock.now += timedelta(minutes=5)
    assert [a.status_code for a in await other.send_once()] == [200]
    [row] = await deliveries(clean_db)
    assert (row.status, row.attempts) == ("delivered", 1)


async def test_only_subscribed_active_endpoints_of_the_events_organisation_get_it(
    clean_db: Database, org: Org, keyring: Keyring
) -> None:
    other_org = await make_org(clean_db, name="other")
    url = "https://cms.example/hooks"
    wants = await add_endpoint(clean_db, keyring, org=org, url=url, events=["share.failed"])
    also = await add_endpoint(
        clean_db, keyring, org=org, url=url, events=["campaign.completed", "share.failed"]
    )
    other_event = await add_endpoint(
        clean_db, keyring, org=org, url=url, events=["campaign.completed"]
    )
    deleted = await add_endpoint(
        clean_db, keyring, org=org, url=url, events=["share.failed"], active=False
    )
    elsewhere = await add_endpoint(
        clean_db, keyring, org=other_org, url=url, events=["share.failed"]
    )
    await WebhookEvents(db=clean_db).event(WebhookEvent(share_failed(org)))
    got = {d.endpoint_id for d in await deliveries(clean_db)}
    assert got == {wants, also}
    assert not got & {other_event, deleted, elsewhere}


async def _wait_for(predicate: Callable[[], Any], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_same_bus_event_delivered_twice_makes_one_delivery(
    clean_db: Database, org: Org, keyring: Keyring, bus: Bus
) -> None:
    url = "https://cms.example/hooks"
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=url, events=[e.ROUTING_KEY for e in _all_kinds(org)]
    )
    consumer = Consumer(
        bus=bus,
        queue=SCHEDULER_WEBHOOKS,
        model=WebhookEvent,
        handler=WebhookEvents(db=clean_db).event,
        prefetch=1,
    )
    await consumer.start()
    try:
        events = _all_kinds(org)
        for event in events:
            await bus.publish(event)
            await bus.publish(event)  # redelivered, as the outbox may
        last = events[-1].event_id

        async def last_arrived() -> bool:
            return any(d.event_id == last for d in await deliveries(clean_db))

        # One consumer, prefetch 1: in order, so every earlier message was handled before.
        await _wait_for(last_arrived)
    finally:
        await consumer.stop(grace=5)
    rows = await deliveries(clean_db, endpoint)
    assert sorted(r.event_type for r in rows) == sorted(e.routing_key() for e in events)
    assert {r.event_id for r in rows} == {e.event_id for e in events}


def _all_kinds(
    org: Org,
) -> list[
    CampaignCompleted | CampaignCancelled | ShareFailed | AccountNeedsReauth | ConsentWithdrawn
]:
    now = datetime.now(UTC)
    ambassador, account = uuid.uuid4(), uuid.uuid4()
    return [
        CampaignCompleted(campaign_id=uuid.uuid4(), org_id=org.id, completed_at=now),
        CampaignCancelled(
            campaign_id=uuid.uuid4(), org_id=org.id, cancelled_at=now, shares_cancelled=3
        ),
        share_failed(org),
        AccountNeedsReauth(
            account_id=account,
            org_id=org.id,
            ambassador_id=ambassador,
            network=Network.X,
            reason="x 401",
            at=now,
        ),
        ConsentWithdrawn(
            account_id=account,
            org_id=org.id,
            ambassador_id=ambassador,
            network=Network.X,
            actor="colleague",
            withdrawn_at=now,
        ),
    ]


async def test_reauth_and_withdrawal_are_announced_once_in_the_changes_transaction(
    clean_db: Database, org: Org, keyring: Keyring
) -> None:
    sim = [{"username": f"u{i}", "base_url": "https://social.example", "token": "t", "id": str(i)}
           for i in range(2)]  # fmt: skip
    first, second = await make_accounts(clean_db, org=org, keyring=keyring, sim=sim)
    async with clean_db.sessions.begin() as session:
        assert await mark_needs_reauth(session=session, account_id=first, reason="401\x00 gone")
        assert not await mark_needs_reauth(session=session, account_id=first, reason="again")
        for _ in range(2):
            assert await erase_credentials(
                session=session, org_id=org.id, account_id=second, actor="colleague", reason="x"
            )
    async with clean_db.sessions() as session:
        rows = (await session.execute(select(OutboxEvent.message_type, OutboxEvent.payload))).all()
    kinds = sorted(r.message_type for r in rows)
    assert kinds == ["AccountNeedsReauth", "ConsentWithdrawn"]
    payloads = {r.message_type: r.payload for r in rows}
    reauth = AccountNeedsReauth.model_validate(payloads["AccountNeedsReauth"])
    assert (reauth.account_id, reauth.org_id, reauth.reason) == (first, org.id, "401 gone")
    withdrawn = ConsentWithdrawn.model_validate(payloads["ConsentWithdrawn"])
    assert (withdrawn.account_id, withdrawn.actor) == (second, "colleague")


async def test_finished_deliveries_leave_the_log_after_its_retention(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=receiver.url, events=["share.failed"]
    )
    events = WebhookEvents(db=clean_db)
    for _ in range(3):
        await events.event(WebhookEvent(share_failed(org)))
    receiver.statuses = [200, 200, 500]
    clock = Clock()
    sender = sender_for(clean_db, keyring, loopback_http, clock, keep_log=timedelta(days=30))
    assert len(await sender.send_once()) == 3
    statuses = sorted(d.status for d in await deliveries(clean_db, endpoint))
    assert statuses == ["delivered", "delivered", "pending"]
    # Within the retention nothing goes.
    clock.now += timedelta(days=29)
    assert await sender.forget_old(batch=1) == 0
    # Past it, the finished ones go (a batch at a time); the one still being retried stays.
    clock.now += timedelta(days=2)
    assert await sender.forget_old(batch=1) == 2
    [left] = await deliveries(clean_db, endpoint)
    assert left.status == "pending"


def _attempts(outcome: str) -> float:
    return REGISTRY.get_sample_value("chorus_webhook_attempts_total", {"outcome": outcome}) or 0.0


async def _endpoint_row(db: Database, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    async with db.sessions() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
    assert row is not None
    return row


async def test_a_410_gone_disables_the_endpoint_until_the_cms_enables_it(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=receiver.url, events=["share.failed"]
    )
    events = WebhookEvents(db=clean_db)
    for _ in range(2):
        await events.event(WebhookEvent(share_failed(org)))
    receiver.statuses = [410]
    clock = Clock()
    sender = sender_for(clean_db, keyring, loopback_http, clock, batch_size=1)
    disabled_before = _attempts("disabled")

    [gone] = await sender.send_once()
    assert gone.status_code == 410
    row = await _endpoint_row(clean_db, endpoint)
    assert (row.disabled_at, row.disabled_reason, row.active) == (clock.now, GONE_REASON, True)
    # The one answered 410 and the one still to send both fail now: no day of retries at an
    # endpoint that said it wants nothing more.
    assert [(d.status, d.last_error) for d in await deliveries(clean_db, endpoint)] == [
        ("failed", GONE_REASON),
        ("failed", GONE_REASON),
    ]
    assert len(receiver.received) == 1
    assert _attempts("disabled") == disabled_before + 1
    # New events are not queued for it while it is disabled.
    await events.event(WebhookEvent(share_failed(org)))
    assert len(await deliveries(clean_db, endpoint)) == 2
    assert await sender.send_once() == []

    async with clean_db.sessions.begin() as session:
        enabled = await enable_endpoint(session=session, org_id=org.id, endpoint_id=endpoint)
    assert (enabled.status, enabled.disabled_at) == ("active", None)
    later = share_failed(org)
    await events.event(WebhookEvent(later))
    clock.now += timedelta(seconds=1)
    [sent] = await sender.send_once()
    assert sent.status_code == 200
    assert json.loads(receiver.received[-1][1])["id"] == str(later.event_id)


async def test_a_delivery_redelivered_by_the_cms_goes_out_again_with_the_same_id(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    receiver: Receiver,
    loopback_http: NetworkHttp,
) -> None:
    endpoint = await add_endpoint(
        clean_db, keyring, org=org, url=receiver.url, events=["share.failed"]
    )
    event = share_failed(org)
    await WebhookEvents(db=clean_db).event(WebhookEvent(event))
    receiver.statuses = [500]
    clock = Clock()
    # The CMS was down past the last attempt.
    sender = sender_for(clean_db, keyring, loopback_http, clock, max_attempts=1)
    await sender.send_once()
    [failed] = await deliveries(clean_db, endpoint)
    assert (failed.status, failed.attempts) == ("failed", 1)

    other = await make_org(clean_db, name="other")
    async with clean_db.sessions.begin() as session:
        with pytest.raises(Problem, match="No such webhook"):
            await redeliver(
                session=session, org_id=other.id, endpoint_id=endpoint, delivery_id=failed.id
            )
    async with clean_db.sessions.begin() as session:
        again = await redeliver(
            session=session, org_id=org.id, endpoint_id=endpoint, delivery_id=failed.id
        )
    assert (again.status, again.attempts) == ("pending", 0)
    clock.now = datetime.now(UTC) + timedelta(seconds=1)
    [sent] = await sender.send_once()
    assert sent.status_code == 200
    [row] = await deliveries(clean_db, endpoint)
    assert (row.status, row.attempts) == ("delivered", 1)
    assert [a["status_code"] for a in row.attempt_log] == [500, 200]  # the log keeps both
    assert [h["Chorus-Webhook-Id"] for h, _ in receiver.received] == [str(event.event_id)] * 2
    # Asking again while it is pending (or after) never sends it twice at once.
    async with clean_db.sessions.begin() as session:
        done = await redeliver(
            session=session, org_id=org.id, endpoint_id=endpoint, delivery_id=row.id
        )
    assert done.status == "pending"
    async with clean_db.sessions.begin() as session:
        same = await redeliver(
            session=session, org_id=org.id, endpoint_id=endpoint, delivery_id=row.id
        )
    assert same.status == "pending" and same.attempts == 0
