"""The publisher on every network the simulator serves, handlers called directly, on the real
database: exactly once when an answer is lost, images uploaded, expired tokens refreshed (and the
rotated one stored), a refused authorisation that marks the account, and rate limits held for
every replica, per account or for the whole app."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from chorus.common.credentials import Credentials, Keyring
from chorus.common.db import Database
from chorus.common.http import NetworkHttp
from chorus.common.kinds import Network
from chorus.common.messages import CampaignCreated, ShareRequested
from chorus.netsim import SimState
from chorus.networks import NetworkSpec, spec_for
from chorus.networks.oauth import code_challenge, new_code_verifier
from chorus.networks.x.connect import XConnector
from chorus.publisher.handlers import PublisherHandlers
from chorus.publisher.media import ImageFetcher
from chorus.scheduler.handlers import SchedulerHandlers
from tests.factories import (
    Org,
    make_accounts,
    make_campaign,
    network_http,
    share_rows,
    sim_accounts,
    stage_campaign,
)
from tests.networks.simulated import REDIRECT, app, consent

pytestmark = pytest.mark.integration

SIMULATED = [Network.MASTODON, Network.X, Network.LINKEDIN, Network.FACEBOOK]


def _handlers(
    db: Database, http: NetworkHttp, keyring: Keyring, spec: NetworkSpec, **client: Any
) -> PublisherHandlers:
    return PublisherHandlers(
        db=db,
        spec=spec,
        client=spec.client(http, client.get("app")),
        keyring=keyring,
        claim_lease=timedelta(seconds=45),
        attempt_deadline=timedelta(seconds=client.get("deadline", 20)),
        images=ImageFetcher(http, max_bytes=spec.max_image_bytes),
    )


async def _requests(db: Database, org: Org, campaign_id: uuid.UUID) -> list[ShareRequested]:
    shares = await share_rows(db, campaign_id)
    async with db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET status = 'queued' WHERE campaign_id = :c"), {"c": campaign_id}
        )
    return [
        ShareRequested(share_id=s.id, org_id=org.id, network=Network(s.network)) for s in shares
    ]


async def _rows(db: Database, sql: str, **params: Any) -> list[Any]:
    async with db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


async def _ready_again(db: Database, share_id: uuid.UUID) -> None:
    async with db.sessions.begin() as session:
        await session.execute(
            text("UPDATE shares SET planned_at = now() WHERE id = :id"), {"id": share_id}
        )


@pytest.mark.parametrize("network", SIMULATED, ids=lambda n: n.value)
async def test_a_lost_answer_never_makes_a_second_post(
    network: Network,
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_app: FastAPI,
    sim_state: SimState,
) -> None:
    spec = spec_for(network)
    image = {"url": "http://sim/_sim/images/launch.png", "alt": "The launch"}
    campaign_id = await stage_campaign(
        clean_db,
        org=org,
        keyring=keyring,
        sim=sim_http,
        count=1,
        network=network.value,
        images=[image],
    )
    [request] = await _requests(clean_db, org, campaign_id)
    quick = network_http(app=sim_app, deadline=1)
    handlers = _handlers(clean_db, quick, keyring, spec, deadline=2)
    # The post is made, but its answer never comes back.
    await sim_http.post("/_sim/faults", json={"next": ["timeout"], "hang_seconds": 5})
    await handlers.share_requested(request)
    [share] = await _rows(clean_db, "SELECT status, attempts FROM shares")
    assert (share.status, share.attempts) == ("planned", 1)
    await _ready_again(clean_db, request.share_id)
    await handlers.share_requested(request)
    [share] = await _rows(clean_db, "SELECT status, remote_id FROM shares")
    stats = (await sim_http.get("/_sim/stats")).json()
    assert share.status == "published", share
    assert stats["by_network"][network.value]["posts"] == 1
    assert stats["duplicates"] == 0
    # The image went through the network's own upload.
    uploads = (await sim_http.get("/_sim/media", params={"network": network.value})).json()
    assert len(uploads) >= 1
    await quick.aclose()


async def test_an_expired_x_token_is_refreshed_and_the_rotated_one_kept(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
) -> None:
    [account] = await sim_accounts(sim_http, count=1, network="x")
    x_app = await app(sim_http, "x", auth_path="/i/oauth2/authorize")
    verifier = new_code_verifier()
    connector = XConnector()
    url = connector.authorization_url(
        app=x_app, redirect_uri=REDIRECT, state="s", code_challenge=code_challenge(verifier)
    )
    [identity] = await connector.exchange(
        http=sim_net,
        app=x_app,
        code=await consent(sim_http, url, account["id"]),
        redirect_uri=REDIRECT,
        code_verifier=verifier,
    )
    # Stored without its expiry, so the publisher only learns of it from the network's 401.
    first = Credentials(
        access_token=identity.credentials.access_token,
        refresh_token=identity.credentials.refresh_token,
    )
    await make_accounts(
        clean_db, org=org, keyring=keyring, sim=[account], network="x", credentials=[first]
    )
    campaign_id = await make_campaign(clean_db, org=org, networks=("x",))
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    [request] = await _requests(clean_db, org, campaign_id)
    await sim_http.post("/_sim/clock", json={"advance_seconds": 2 * 3600 + 60})
    await _handlers(clean_db, sim_net, keyring, spec_for(Network.X), app=x_app).share_requested(
        request
    )
    [share] = await _rows(clean_db, "SELECT status, reason FROM shares")
    assert share.status == "published", share.reason
    [stored] = await _rows(clean_db, "SELECT credentials FROM accounts")
    kept = keyring.open(stored.credentials)
    # The rotated refresh token was stored: the old one no longer works at X.
    assert kept.refresh_token and kept.refresh_token != first.refresh_token
    assert kept.access_token != first.access_token


async def test_a_refused_authorisation_marks_the_account_and_spares_the_network(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    [account] = await sim_accounts(sim_http, count=1, network="facebook")
    await make_accounts(clean_db, org=org, keyring=keyring, sim=[account], network="facebook")
    await sim_http.post(f"/_sim/accounts/{account['id']}/revoke")
    handlers = _handlers(clean_db, sim_net, keyring, spec_for(Network.FACEBOOK))
    requests = []
    for _ in range(2):
        campaign_id = await make_campaign(clean_db, org=org, networks=("facebook",))
        await SchedulerHandlers(db=clean_db).campaign_created(
            CampaignCreated(campaign_id=campaign_id, org_id=org.id)
        )
        requests += await _requests(clean_db, org, campaign_id)
    await handlers.share_requested(requests[0])
    [acc] = await _rows(clean_db, "SELECT status, status_reason FROM accounts")
    assert acc.status == "needs_reauth" and "190" in acc.status_reason
    calls = sum(sim_state.requests.values())
    await handlers.share_requested(requests[1])
    assert sum(sim_state.requests.values()) == calls  # not tried: the colleague must act first
    reasons = [r.reason for r in await _rows(clean_db, "SELECT reason FROM shares")]
    assert len(reasons) == 2 and all("connected again" in r for r in reasons)


async def test_the_apps_cap_holds_every_colleagues_share_without_calling(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    await sim_http.post("/_sim/limits", json={"x_app_24h": 1})
    campaign_id = await stage_campaign(
        clean_db, org=org, keyring=keyring, sim=sim_http, count=3, network="x"
    )
    requests = await _requests(clean_db, org, campaign_id)
    spec = spec_for(Network.X)
    # Two replicas of the X publisher: the hold one writes, the other honours.
    first, second = (_handlers(clean_db, sim_net, keyring, spec) for _ in range(2))
    await first.share_requested(requests[0])  # posts; the answer says the app's cap is spent
    tweets = sim_state.requests["x.create_tweet"]
    await second.share_requested(requests[1])
    await first.share_requested(requests[2])
    assert sim_state.requests["x.create_tweet"] == tweets  # nobody called X again
    holds = await _rows(clean_db, "SELECT network, scope_key FROM rate_holds")
    assert [(h.network, h.scope_key) for h in holds] == [("x", "app")]
    rows = await _rows(clean_db, "SELECT status, attempts, rate_waits FROM shares ORDER BY status")
    assert sorted(r.status for r in rows) == ["planned", "planned", "published"]
    # Waiting spends no attempt.
    assert all(r.attempts == 0 for r in rows if r.status == "planned")


async def test_a_facebook_profile_gets_a_share_link_not_a_post(
    clean_db: Database,
    org: Org,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
    sim_net: NetworkHttp,
    sim_state: SimState,
) -> None:
    [person] = await sim_accounts(sim_http, count=1, network="facebook")
    [account_id] = await make_accounts(
        clean_db, org=org, keyring=keyring, sim=[person], network="facebook"
    )
    async with clean_db.sessions.begin() as session:
        await session.execute(
            text("UPDATE accounts SET kind = 'profile' WHERE id = :id"), {"id": account_id}
        )
    campaign_id = await make_campaign(clean_db, org=org, networks=("facebook",))
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    [request] = await _requests(clean_db, org, campaign_id)
    calls = sum(sim_state.requests.values())
    await _handlers(clean_db, sim_net, keyring, spec_for(Network.FACEBOOK)).share_requested(request)
    [share] = await _rows(clean_db, "SELECT status, remote_url FROM shares")
    assert share.status == "manual"
    # Facebook's share dialog for the link, nothing pre-filled, as its policy requires.
    assert share.remote_url == (
        "https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fexample.com%2Fa"
    )
    assert sum(sim_state.requests.values()) == calls
    [campaign] = await _rows(clean_db, "SELECT status FROM campaigns")
    assert campaign.status == "completed"
