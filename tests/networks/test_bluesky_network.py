"""Bluesky's client, the app-password connection and the publisher against a real Bluesky
network run locally (PLC, PDS and AppView from @atproto/dev-env): a share's record key makes a
second attempt the same post, images go up as blobs, links become facets, counts come back
from the AppView, sessions refresh, and a colleague connects with an app password."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, text

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Credentials, Keyring
from chorus.common.db import Database
from chorus.common.failures import AuthorizationFailure, TokenExpired
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import CampaignCreated, ShareRequested
from chorus.common.models import Account
from chorus.devstack.bluesky import LocalBluesky
from chorus.gateway.app import create_app
from chorus.netsim.png import solid_png
from chorus.networks import AccountAccess, Content, MediaFile
from chorus.networks.bluesky import SPEC, BlueskyClient, sign_in
from chorus.networks.bluesky.tid import record_key
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from chorus.scheduler.handlers import SchedulerHandlers
from tests.factories import Org, make_accounts, make_campaign

pytestmark = pytest.mark.integration

LINK = "https://example.com/launch"
T = TypeVar("T")


async def eventually(fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Poll until `done` (the AppView indexes a like or a repost about half a second later),
    at most 20 s; a short pause between reads keeps the poll from hammering the network."""
    deadline = time.monotonic() + 20
    while True:
        value = await fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[NetworkHttp]:
    # The local network lives on http://localhost: the development setting allows it.
    network = NetworkHttp(policy=AddressPolicy(allow_private=True), deadline=20, max_bytes=1 << 22)
    yield network
    await network.aclose()


async def _colleague(bsky: LocalBluesky, http: NetworkHttp) -> AccountAccess:
    """An account connected as a colleague would: with an app password, at its PDS."""
    account = await bsky.create_account("amb")
    app_password = await bsky.create_app_password(account)
    identity = await sign_in(http, bsky.pds_url, account.handle, app_password)
    assert identity.remote_account_id == account.did
    return AccountAccess(
        base_url=identity.base_url,
        credentials=identity.credentials,
        handle=identity.handle,
        remote_account_id=identity.remote_account_id,
    )


async def _records(bsky: LocalBluesky, did: str) -> list[dict[str, Any]]:
    listed = await bsky.xrpc(
        "GET",
        "com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.feed.post"},
    )
    records: list[dict[str, Any]] = listed.json()["records"]
    return records


async def test_a_second_write_of_a_share_is_the_same_post(
    bsky: LocalBluesky, http: NetworkHttp
) -> None:
    colleague = await _colleague(bsky, http)
    client = BlueskyClient(http)
    post = SPEC.render(
        Content(message="Café ☕ launch", url=LINK, title="Launch", description="What's new")
    )
    key = record_key(datetime.now(UTC), uuid.uuid4())
    first = await client.post(account=colleague, post=post, media=(), key=key)
    again = await client.post(account=colleague, post=post, media=(), key=key)
    assert (
        first.remote_id
        == again.remote_id
        == f"at://{colleague.remote_account_id}/app.bsky.feed.post/{key}"
    )
    [record] = await _records(bsky, colleague.remote_account_id or "")
    value = record["value"]
    # The link is a facet over its UTF-8 bytes, and the card is ours.
    [facet] = value["facets"]
    raw = value["text"].encode()
    assert raw[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode() == LINK
    assert value["embed"]["external"]["title"] == "Launch"
    found = await client.find_post(account=colleague, post=post, since=datetime.now(UTC))
    assert found is not None and found.remote_id == first.remote_id


async def test_images_counts_followers_and_a_refreshed_session(
    bsky: LocalBluesky, http: NetworkHttp
) -> None:
    colleague = await _colleague(bsky, http)
    client = BlueskyClient(http)
    image = MediaFile(data=solid_png("launch"), mime="image/png", alt="The team")
    posted = await client.post(
        account=colleague,
        post=SPEC.render(Content(message="With a picture", url=LINK)),
        media=[image],
        key=record_key(datetime.now(UTC), uuid.uuid4()),
    )
    [record] = await _records(bsky, colleague.remote_account_id or "")
    assert record["value"]["embed"]["images"][0]["alt"] == "The team"
    fan = await bsky.create_account("fan")
    cid = record["cid"]
    await bsky.like(fan, posted.remote_id, cid)
    await bsky.repost(fan, posted.remote_id, cid)
    await bsky.follow(fan, colleague.remote_account_id or "")
    counts = await eventually(
        lambda: client.read_counts(account=colleague, remote_ids=[posted.remote_id]),
        lambda c: bool(c) and (c[posted.remote_id].likes, c[posted.remote_id].reshares) == (1, 1),
    )
    found = counts[posted.remote_id]
    assert (found.likes, found.reshares, found.replies, found.impressions) == (1, 1, 0, None)
    assert await eventually(lambda: client.read_followers(account=colleague), lambda n: n == 1) == 1
    fresh = await client.refresh(account=colleague)
    assert fresh.refresh_token != colleague.credentials.refresh_token
    renewed = AccountAccess(
        base_url=colleague.base_url,
        credentials=fresh,
        handle=colleague.handle,
        remote_account_id=colleague.remote_account_id,
    )
    assert await client.read_followers(account=renewed) == 1


async def test_a_wrong_app_password_is_refused(bsky: LocalBluesky, http: NetworkHttp) -> None:
    account = await bsky.create_account("amb")
    with pytest.raises(AuthorizationFailure):
        await sign_in(http, bsky.pds_url, account.handle, "aaaa-bbbb-cccc-dddd")


async def test_the_colleague_connects_with_an_app_password_and_the_share_posts_once(
    bsky: LocalBluesky, http: NetworkHttp, clean_db: Database, keyring: Keyring, org: Org
) -> None:
    app = create_app(
        db=clean_db,
        keyring=keyring,
        address_policy=AddressPolicy(allow_private=True),
        network_http=http,
    )
    account = await bsky.create_account("amb")
    app_password = await bsky.create_app_password(account)
    headers = {"Authorization": f"Bearer {org.api_key}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as gateway:
        await gateway.put("/v1/ambassadors/c-1", json={"display_name": "C"}, headers=headers)
        wrong = await gateway.post(
            "/v1/ambassadors/c-1/connections/bluesky/app-password",
            json={"identifier": account.handle, "app_password": "x", "service": bsky.pds_url},
            headers=headers,
        )
        assert wrong.status_code == 403
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
    assert app_password not in connected.text
    async with clean_db.sessions() as session:
        [stored] = (await session.scalars(select(Account))).all()
    assert stored.remote_account_id == account.did
    # The app password was used once and never stored: only the session is.
    assert app_password.encode() not in keyring.open(stored.credentials).to_json()

    campaign_id = await make_campaign(clean_db, org=org, networks=("bluesky",))
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    async with clean_db.sessions.begin() as session:
        share_id = await session.scalar(text("UPDATE shares SET status = 'queued' RETURNING id"))
    publisher = PublisherHandlers(
        db=clean_db,
        spec=SPEC,
        client=BlueskyClient(http),
        keyring=keyring,
        claim_lease=timedelta(seconds=45),
        attempt_deadline=timedelta(seconds=20),
        images=ImageFetcher(http, max_bytes=SPEC.max_image_bytes),
    )
    request = ShareRequested(share_id=share_id, org_id=org.id, network=Network.BLUESKY)
    await publisher.share_requested(request)
    # As if the outcome had been lost after the write landed (a crash): the share is tried
    # again, writes the same record key, and is still one post.
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued', remote_id = NULL WHERE id = :id"),
            {"id": share_id},
        )
    await publisher.share_requested(request)
    async with clean_db.sessions() as session:
        share = (await session.execute(text("SELECT status, remote_id FROM shares"))).one()
    records = await _records(bsky, account.did)
    assert share.status == "published" and [r["uri"] for r in records] == [share.remote_id]


def _expired(access_jwt: str) -> str:
    """The same access token, made to have expired an hour ago: re-signed with the local PDS's
    development secret (@atproto/dev-env's JWT_SECRET), which only a test network uses."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header, payload, _ = access_jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    signed = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(b"jwt-secret", signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(signature)}"


async def test_an_expired_session_is_refreshed_and_the_share_posts(
    bsky: LocalBluesky, http: NetworkHttp, clean_db: Database, keyring: Keyring, org: Org
) -> None:
    colleague = await _colleague(bsky, http)
    stale = Credentials(
        access_token=_expired(colleague.token),
        refresh_token=colleague.credentials.refresh_token,
        extra=dict(colleague.credentials.extra),
    )
    client = BlueskyClient(http)
    expired = AccountAccess(
        base_url=colleague.base_url,
        credentials=stale,
        handle=colleague.handle,
        remote_account_id=colleague.remote_account_id,
    )
    # The PDS answers 400 ExpiredToken (not 401): the client says a refresh would help.
    with pytest.raises(TokenExpired):
        await client.read_followers(account=expired)
    sim = [
        {
            "username": colleague.handle,
            "base_url": colleague.base_url,
            "token": "-",
            "id": colleague.remote_account_id,
        }
    ]
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=sim, network="bluesky", credentials=[stale]
    )
    campaign_id = await make_campaign(clean_db, org=org, networks=("bluesky",))
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    async with clean_db.sessions.begin() as session:
        share_id = await session.scalar(text("UPDATE shares SET status = 'queued' RETURNING id"))
    publisher = PublisherHandlers(
        db=clean_db,
        spec=SPEC,
        client=client,
        keyring=keyring,
        claim_lease=timedelta(seconds=45),
        attempt_deadline=timedelta(seconds=20),
        images=ImageFetcher(http, max_bytes=SPEC.max_image_bytes),
    )
    await publisher.share_requested(
        ShareRequested(share_id=share_id, org_id=org.id, network=Network.BLUESKY)
    )
    async with clean_db.sessions() as session:
        share = (await session.execute(text("SELECT status, reason FROM shares"))).one()
        sealed = await session.scalar(select(Account.credentials))
    assert share.status == "published", share.reason
    assert sealed is not None
    kept = keyring.open(sealed)
    # The refreshed session was stored, the rotated refresh token with it.
    assert kept.access_token != stale.access_token
    assert kept.refresh_token != stale.refresh_token
    assert len(await _records(bsky, colleague.remote_account_id or "")) == 1
