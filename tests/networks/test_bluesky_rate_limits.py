"""Bluesky with the PDS's rate limits on (a network of its own: the shared one stays
unlimited). A colleague's hourly budget of repo writes is spent first, in one request that
writes nothing (`LocalBluesky.exhaust_repo_writes`). Then the client reads the PDS's 429 as
`RateLimited` until its `RateLimit-Reset`, for that account; and shares to that colleague
(connected through the gateway, staged by the scheduler, taken by two publisher replicas) wait
for the reset instead of failing: no attempt spent, the account held for every replica, one
call to the PDS in all, nothing posted.

The PDS's shortest window is five minutes (global, createSession, createAccount) and repo
writes refill hourly (@atproto/pds dist/rate-limits.js), so the post after the reset is not
waited for here."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.failures import RateLimited, RateScope
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network, ShareStatus
from chorus.common.messages import CampaignCreated, ShareRequested
from chorus.common.shares import due_shares
from chorus.devstack.bluesky import Account, LocalBluesky
from chorus.devstack.postgres import LocalPostgres
from chorus.gateway.app import create_app
from chorus.networks import AccountAccess, Content
from chorus.networks.bluesky import SPEC, BlueskyClient, sign_in
from chorus.networks.bluesky.tid import record_key
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from chorus.scheduler.handlers import SchedulerHandlers
from tests.factories import Org, make_campaign

pytestmark = pytest.mark.integration

PUT_RECORD = "com.atproto.repo.putRecord"


@pytest.fixture(scope="module")
def limited_bsky() -> Iterator[LocalBluesky]:
    """A second network, with the PDS's rate limits on, for this module only (about 350 MB
    while it runs). Budgets are per DID: each test spends its own colleague's."""
    root = Path(tempfile.mkdtemp(prefix="chorus-bsky-limited-"))
    try:
        with (
            LocalPostgres(root=root / "postgres", durable=False) as pg,
            LocalBluesky(root=root / "bluesky", postgres_dsn=pg.dsn, rate_limits=True) as network,
        ):
            yield network
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Recorder(httpx.AsyncBaseTransport):
    """The real transport, keeping each XRPC call's method and answer: what Chorus sent the PDS
    and the 429 it heard, headers and all."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.calls: list[tuple[str, httpx.Response]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        try:
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        kept = httpx.Response(
            response.status_code, headers=response.headers, stream=httpx.ByteStream(raw)
        )
        await kept.aread()
        self.calls.append((request.url.path.removeprefix("/xrpc/"), kept))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._real.aclose()

    def answers(self, nsid: str) -> list[httpx.Response]:
        return [response for name, response in self.calls if name == nsid]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http(recorder: Recorder) -> AsyncIterator[NetworkHttp]:
    network = NetworkHttp(
        policy=AddressPolicy(allow_private=True),
        deadline=20,
        max_bytes=1 << 22,
        transport=recorder,
    )
    yield network
    await network.aclose()


def _reset(answer: httpx.Response) -> datetime:
    return datetime.fromtimestamp(int(answer.headers["ratelimit-reset"]), UTC)


def _assert_write_budget_spent(answer: httpx.Response) -> None:
    """The PDS's 429 for the hourly write budget, with its IETF-draft headers."""
    assert answer.status_code == 429, answer.text
    assert answer.json()["error"] == "RateLimitExceeded"
    headers = answer.headers
    assert (headers["ratelimit-limit"], headers["ratelimit-remaining"]) == ("5000", "0")
    assert headers["ratelimit-policy"] == "5000;w=3600"
    assert 3590 <= int(headers["retry-after"]) <= 3600
    left = _reset(answer) - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


async def _records(bsky: LocalBluesky, did: str) -> list[dict[str, Any]]:
    listed = await bsky.xrpc(
        "GET",
        "com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.feed.post"},
    )
    assert listed.status_code == 200, listed.text
    records: list[dict[str, Any]] = listed.json()["records"]
    return records


async def test_the_client_reads_the_pds_429_as_a_wait_until_its_reset(
    limited_bsky: LocalBluesky, http: NetworkHttp, recorder: Recorder
) -> None:
    account = await limited_bsky.create_account("amb")
    app_password = await limited_bsky.create_app_password(account)
    identity = await sign_in(http, limited_bsky.pds_url, account.handle, app_password)
    colleague = AccountAccess(
        base_url=identity.base_url,
        credentials=identity.credentials,
        handle=identity.handle,
        remote_account_id=identity.remote_account_id,
    )
    spent = await limited_bsky.exhaust_repo_writes(account)
    _assert_write_budget_spent(spent)

    client = BlueskyClient(http)
    post = SPEC.render(Content(message="Launch day", url="https://example.com/launch"))
    with pytest.raises(RateLimited) as caught:
        await client.post(
            account=colleague, post=post, media=(), key=record_key(datetime.now(UTC), uuid.uuid4())
        )
    [answer] = recorder.answers(PUT_RECORD)
    _assert_write_budget_spent(answer)
    # The wait is the PDS's own reset, for this colleague's account only (the budget is per
    # DID); it is the budget the exhausting request spent, not a new window.
    assert caught.value.until == _reset(answer)
    assert abs(caught.value.until - _reset(spent)) <= timedelta(seconds=1)
    assert caught.value.scope is RateScope.ACCOUNT
    assert "RateLimitExceeded" in caught.value.reason
    assert await _records(limited_bsky, account.did) == []


async def _connect(
    bsky: LocalBluesky, http: NetworkHttp, db: Database, keyring: Keyring, org: Org
) -> Account:
    """A colleague connects their Bluesky account through the gateway with an app password."""
    account = await bsky.create_account("amb")
    app_password = await bsky.create_app_password(account)
    app = create_app(
        db=db, keyring=keyring, address_policy=AddressPolicy(allow_private=True), network_http=http
    )
    headers = {"Authorization": f"Bearer {org.api_key}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as gateway:
        made = await gateway.put("/v1/ambassadors/c-1", json={"display_name": "C"}, headers=headers)
        assert made.is_success, made.text
        connected = await gateway.post(
            "/v1/ambassadors/c-1/connections/bluesky/app-password",
            json={
                "identifier": account.handle,
                "app_password": app_password,
                "service": bsky.pds_url,
            },
            headers=headers,
        )
    assert connected.status_code == 201, connected.text
    return account


async def test_a_share_to_a_colleague_out_of_writes_waits_for_the_reset_and_spends_nothing(
    limited_bsky: LocalBluesky,
    http: NetworkHttp,
    recorder: Recorder,
    clean_db: Database,
    keyring: Keyring,
    org: Org,
) -> None:
    account = await _connect(limited_bsky, http, clean_db, keyring, org)
    _assert_write_budget_spent(await limited_bsky.exhaust_repo_writes(account))

    # Two campaigns: two shares for the same colleague, released together, taken by two
    # publisher replicas.
    scheduler = SchedulerHandlers(db=clean_db)
    for n in (1, 2):
        campaign_id = await make_campaign(
            clean_db, org=org, message=f"Launch {n}", networks=("bluesky",)
        )
        await scheduler.campaign_created(CampaignCreated(campaign_id=campaign_id, org_id=org.id))
    async with clean_db.sessions.begin() as session:
        ids = (
            await session.scalars(text("UPDATE shares SET status = 'queued' RETURNING id"))
        ).all()
    assert len(ids) == 2
    replicas = [
        PublisherHandlers(
            db=clean_db,
            spec=SPEC,
            client=BlueskyClient(http),
            keyring=keyring,
            claim_lease=timedelta(seconds=45),
            attempt_deadline=timedelta(seconds=20),
            images=ImageFetcher(http, max_bytes=SPEC.max_image_bytes),
        )
        for _ in ids
    ]
    await replicas[0].share_requested(
        ShareRequested(share_id=ids[0], org_id=org.id, network=Network.BLUESKY)
    )
    [answer] = recorder.answers(PUT_RECORD)
    _assert_write_budget_spent(answer)
    reset = _reset(answer)
    calls = len(recorder.calls)
    # The other replica finds the account held: its share waits too, without a call.
    await replicas[1].share_requested(
        ShareRequested(share_id=ids[1], org_id=org.id, network=Network.BLUESKY)
    )
    assert len(recorder.calls) == calls

    async with clean_db.sessions() as session:
        shares = (
            await session.execute(
                text(
                    "SELECT status, planned_at, attempts, rate_waits, remote_id, reason "
                    "FROM shares ORDER BY planned_at"
                )
            )
        ).all()
        holds = (
            await session.execute(text("SELECT network, scope_key, until FROM rate_holds"))
        ).all()
        account_id = await session.scalar(text("SELECT id FROM accounts"))
    for share in shares:
        # Not failed: planned again for the PDS's reset, no attempt spent, one rate wait.
        assert share.status == ShareStatus.PLANNED, share.reason
        assert share.planned_at == reset
        assert (share.attempts, share.rate_waits, share.remote_id) == (0, 1, None)
        assert "RateLimitExceeded" in share.reason
    # Every replica holds the colleague's account (only theirs) until the reset.
    assert [tuple(h) for h in holds] == [("bluesky", f"account:{account_id}", reset)]
    # The scheduler releases neither before then.
    async with clean_db.sessions.begin() as session:
        assert await due_shares(session=session, limit=10) == []
    # The PDS holds nothing from Chorus: no post, so none twice.
    assert await _records(limited_bsky, account.did) == []
