"""Connecting accounts through the networks' own authorisation: the CMS starts a flow, the
colleague allows Chorus at the network (the simulator's consent page), the network's redirect
reaches the callback, and the tokens are stored, never shown. No token passes through the CMS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from chorus.common.addresses import AddressPolicy
from chorus.common.credentials import Keyring, mark_needs_reauth
from chorus.common.db import Database
from chorus.common.kinds import Network
from chorus.common.models import Account, ConsentEvent, OAuthApp
from chorus.gateway.app import create_app
from chorus.networks import AppCredentials
from tests.factories import Org, network_http
from tests.networks.simulated import sim_account

pytestmark = pytest.mark.integration

PUBLIC = "https://chorus.example"
CALLBACK = f"{PUBLIC}/v1/connections/callback"


async def _app(sim: httpx.AsyncClient, network: str, auth_path: str) -> AppCredentials:
    made = (
        await sim.post("/_sim/apps", json={"network": network, "redirect_uris": [CALLBACK]})
    ).json()
    return AppCredentials(
        client_id=made["client_id"],
        client_secret=made["client_secret"],
        api_url=f"http://sim/{network}",
        auth_url=f"http://sim/{network}{auth_path}",
        version="v24.0" if network == "facebook" else "",
    )


@pytest.fixture
async def gateway(
    clean_db: Database, keyring: Keyring, sim_app: FastAPI, sim_http: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in-process, calling the simulator in-process; X and Facebook apps set up,
    LinkedIn's not; Mastodon's registered per instance; raw tokens refused, as in production."""
    http = network_http(app=sim_app)
    app = create_app(
        db=clean_db,
        keyring=keyring,
        address_policy=AddressPolicy(allow_private=True),
        network_http=http,
        network_apps={
            Network.X: await _app(sim_http, "x", "/i/oauth2/authorize"),
            Network.FACEBOOK: await _app(sim_http, "facebook", "/dialog/oauth"),
        },
        public_url=PUBLIC,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://gateway",
    ) as client:
        yield client
    await http.aclose()


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def _colleague(gateway: httpx.AsyncClient, org: Org) -> None:
    made = await gateway.put(
        "/v1/ambassadors/cms-7", json={"display_name": "Alice"}, headers=_auth(org)
    )
    assert made.status_code == 200


async def _start(gateway: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    started = await gateway.post("/v1/ambassadors/cms-7/connections", json=body, headers=_auth(org))
    assert started.status_code == 201, started.text
    result: dict[str, Any] = started.json()
    return result


async def _allow(sim: httpx.AsyncClient, authorization_url: str, account_id: str) -> str:
    """The colleague clicks Allow: the network's redirect, back to Chorus's callback."""
    url = urlsplit(authorization_url)
    answer = await sim.get(f"{url.path}?{url.query}&sim_account={account_id}")
    assert answer.status_code in (302, 303), answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK)
    return "/v1/connections/callback?" + urlsplit(location).query


async def test_x_connects_without_a_token_passing_through_the_cms(
    gateway: httpx.AsyncClient,
    sim_http: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    keyring: Keyring,
) -> None:
    await _colleague(gateway, org)
    account = await sim_account(sim_http, "x")
    started = await _start(gateway, org, network="x")
    query = parse_qs(urlsplit(started["authorization_url"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [started["state"]]
    back = await _allow(sim_http, started["authorization_url"], account["id"])
    done = await gateway.get(back)
    assert done.status_code == 200 and "Connected" in done.text
    assert account["token"] not in done.text
    async with clean_db.sessions() as session:
        [stored] = (await session.scalars(select(Account))).all()
        consents = await session.scalar(select(func.count()).select_from(ConsentEvent))
    assert (stored.network, stored.handle, stored.remote_account_id) == ("x", "amb", account["id"])
    credentials = keyring.open(stored.credentials)
    assert credentials.refresh_token and credentials.expires_at
    assert consents == 1
    # The colleague's browser replays the callback: the code is spent, the flow is used.
    assert (await gateway.get(back)).status_code == 400
    listed = await gateway.get("/v1/ambassadors/cms-7/accounts", headers=_auth(org))
    assert [(a["network"], a["status"]) for a in listed.json()] == [("x", "connected")]
    assert credentials.access_token not in listed.text
    # The network refuses it later (the publisher marks it): the CMS sees why.
    async with clean_db.sessions.begin() as session:
        await mark_needs_reauth(session=session, account_id=stored.id, reason="x 401: revoked")
    [shown] = (await gateway.get("/v1/ambassadors/cms-7/accounts", headers=_auth(org))).json()
    assert (shown["status"], shown["status_reason"]) == ("needs_reauth", "x 401: revoked")


async def test_the_colleague_is_sent_back_to_the_cms_or_told_it_was_refused(
    gateway: httpx.AsyncClient, sim_http: httpx.AsyncClient, org: Org
) -> None:
    await _colleague(gateway, org)
    account = await sim_account(sim_http, "x")
    back_to = "https://intranet.example/advocacy?tab=networks"
    started = await _start(gateway, org, network="x", return_to=back_to)
    done = await gateway.get(await _allow(sim_http, started["authorization_url"], account["id"]))
    assert done.status_code == 303
    assert done.headers["location"] == f"{back_to}&connected=x&accounts=1"
    refused = await _start(gateway, org, network="x")
    url = urlsplit(refused["authorization_url"])
    denied = await sim_http.get(f"{url.path}?{url.query}&sim_deny=1")
    answer = await gateway.get(
        "/v1/connections/callback?" + urlsplit(denied.headers["location"]).query
    )
    assert answer.status_code == 403 and "did not give Chorus access" in answer.text


async def test_facebook_connects_every_page_the_colleague_manages(
    gateway: httpx.AsyncClient, sim_http: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    await _colleague(gateway, org)
    user = await sim_account(sim_http, "facebook", kind="user", pages=2)
    started = await _start(gateway, org, network="facebook")
    done = await gateway.get(await _allow(sim_http, started["authorization_url"], user["id"]))
    assert done.status_code == 200, done.text
    async with clean_db.sessions() as session:
        pages = (await session.scalars(select(Account))).all()
    managed = [p for p in pages if p.kind == "page"]
    assert sorted(p.remote_account_id or "" for p in managed) == sorted(
        p["id"] for p in user["pages"]
    )
    # And the colleague's own profile, whose shares will be manual.
    assert [(p.kind, p.remote_account_id) for p in pages if p.kind != "page"] == [
        ("profile", user["id"])
    ]


async def test_mastodon_registers_chorus_once_per_instance(
    gateway: httpx.AsyncClient, sim_http: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    await _colleague(gateway, org)
    account = await sim_account(sim_http, "mastodon")
    first = await _start(gateway, org, network="mastodon", instance="http://sim/mastodon")
    await _start(gateway, org, network="mastodon", instance="http://sim/mastodon/")
    async with clean_db.sessions() as session:
        apps = (await session.scalars(select(OAuthApp))).all()
    assert [(a.network, a.instance) for a in apps] == [("mastodon", "http://sim/mastodon")]
    done = await gateway.get(await _allow(sim_http, first["authorization_url"], account["id"]))
    assert done.status_code == 200, done.text
    # Without the instance there is nowhere to register.
    missing = await gateway.post(
        "/v1/ambassadors/cms-7/connections", json={"network": "mastodon"}, headers=_auth(org)
    )
    assert missing.status_code == 422


async def test_what_cannot_be_connected_says_why(gateway: httpx.AsyncClient, org: Org) -> None:
    await _colleague(gateway, org)
    unconfigured = await gateway.post(
        "/v1/ambassadors/cms-7/connections", json={"network": "linkedin"}, headers=_auth(org)
    )
    assert unconfigured.status_code == 409 and "no LinkedIn app" in unconfigured.json()["detail"]
    password = await gateway.post(
        "/v1/ambassadors/cms-7/connections", json={"network": "bluesky"}, headers=_auth(org)
    )
    assert password.status_code == 422 and "app password" in password.json()["detail"]
    unknown = await gateway.post(
        "/v1/ambassadors/nobody/connections", json={"network": "x"}, headers=_auth(org)
    )
    assert unknown.status_code == 404
    # A colleague who paused or left connects nothing, by OAuth or by app password.
    for status in ("paused", "left"):
        changed = await gateway.put(
            "/v1/ambassadors/cms-7",
            json={"display_name": "Alice", "status": status},
            headers=_auth(org),
        )
        assert changed.status_code == 200, changed.text
        refused = await gateway.post(
            "/v1/ambassadors/cms-7/connections", json={"network": "x"}, headers=_auth(org)
        )
        assert refused.status_code == 409 and status in refused.json()["detail"]
        by_password = await gateway.post(
            "/v1/ambassadors/cms-7/connections/bluesky/app-password",
            json={"identifier": "alice.test", "app_password": "abcd-efgh-ijkl-mnop"},
            headers=_auth(org),
        )
        assert by_password.status_code == 409, by_password.text
    # Production refuses raw tokens: accounts come through the networks' authorisation.
    raw = await gateway.post(
        "/v1/ambassadors/cms-7/accounts",
        json={"network": "x", "handle": "a", "base_url": "https://api.x.com", "access_token": "t"},
        headers=_auth(org),
    )
    assert raw.status_code == 403
