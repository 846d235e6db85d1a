"""Ambassadors and accounts: upserts the CMS can repeat, credentials never shown."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import func, select

from chorus.common.credentials import Credentials, Keyring
from chorus.common.db import Database
from chorus.common.models import Account, Ambassador, ConsentEvent
from tests.factories import Org, make_org

pytestmark = pytest.mark.integration

ACCOUNT = {
    "network": "mastodon",
    "handle": "alice",
    "base_url": "https://mastodon.example/",
    "access_token": "super-secret-token",
}


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


async def test_ambassador_upsert_is_idempotent(api: httpx.AsyncClient, org: Org) -> None:
    body = {"display_name": "Alice", "timezone": "Europe/Paris"}
    first = await api.put("/v1/ambassadors/cms-1", json=body, headers=_auth(org))
    again = await api.put(
        "/v1/ambassadors/cms-1", json={**body, "display_name": "Alice B"}, headers=_auth(org)
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    listed = (await api.get("/v1/ambassadors", headers=_auth(org))).json()["items"]
    assert [a["display_name"] for a in listed] == ["Alice B"]


async def test_unknown_time_zone_is_refused(api: httpx.AsyncClient, org: Org) -> None:
    response = await api.put(
        "/v1/ambassadors/cms-1",
        json={"display_name": "A", "timezone": "Mars/Olympus"},
        headers=_auth(org),
    )
    assert response.status_code == 422
    assert (await api.get("/v1/ambassadors", headers=_auth(org))).json()["items"] == []


async def test_account_credentials_are_encrypted_and_never_returned(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    await api.put("/v1/ambassadors/cms-1", json={"display_name": "A"}, headers=_auth(org))
    created = await api.post("/v1/ambassadors/cms-1/accounts", json=ACCOUNT, headers=_auth(org))
    again = await api.post("/v1/ambassadors/cms-1/accounts", json=ACCOUNT, headers=_auth(org))
    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json()["id"] == again.json()["id"]
    assert "super-secret-token" not in created.text + again.text
    async with clean_db.sessions() as session:
        stored = await session.scalar(select(Account.credentials))
    assert stored is not None and b"super-secret-token" not in stored
    assert keyring.open(stored) == Credentials(access_token="super-secret-token")


async def test_revoking_an_account_erases_its_credentials(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    await api.put("/v1/ambassadors/cms-1", json={"display_name": "A"}, headers=_auth(org))
    account = (
        await api.post("/v1/ambassadors/cms-1/accounts", json=ACCOUNT, headers=_auth(org))
    ).json()
    other = await make_org(clean_db, name="other")
    denied = await api.delete(
        f"/v1/ambassadors/cms-1/accounts/{account['id']}", headers=_auth(other)
    )
    assert denied.status_code == 404
    gone = await api.delete(f"/v1/ambassadors/cms-1/accounts/{account['id']}", headers=_auth(org))
    assert gone.status_code == 204
    async with clean_db.sessions() as session:
        row = await session.scalar(select(Account))
    assert row is not None and row.status == "revoked" and row.credentials == b""
    async with clean_db.sessions() as session:
        ledger = list(await session.scalars(select(ConsentEvent.action).order_by(ConsentEvent.id)))
    assert ledger == ["granted", "withdrawn"]


async def test_account_for_unknown_ambassador_is_404(api: httpx.AsyncClient, org: Org) -> None:
    response = await api.post("/v1/ambassadors/nobody/accounts", json=ACCOUNT, headers=_auth(org))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def _colleague(api: httpx.AsyncClient, org: Org, external_id: str) -> None:
    response = await api.put(
        f"/v1/ambassadors/{external_id}", json={"display_name": external_id}, headers=_auth(org)
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("base_url", "why"),
    [
        ("http://mastodon.example", "only https"),
        ("https://169.254.169.254", "not a public address"),
        ("https://10.1.2.3", "not a public address"),
        ("https://[::1]", "not a public address"),
        ("https://metadata.example", "resolves to 169.254.169.254"),
        ("https://mixed.example", "resolves to 10.1.2.3"),
        ("https://nowhere.example", "does not resolve"),
        ("https://user:pw@mastodon.example", "user name or password"),
    ],
)
async def test_an_account_on_a_non_public_or_plain_http_server_is_refused(
    api: httpx.AsyncClient, org: Org, clean_db: Database, base_url: str, why: str
) -> None:
    await _colleague(api, org, "cms-1")
    response = await api.post(
        "/v1/ambassadors/cms-1/accounts", json={**ACCOUNT, "base_url": base_url}, headers=_auth(org)
    )
    assert response.status_code == 422, response.text
    assert why in response.text
    async with clean_db.sessions() as session:
        assert await session.scalar(select(Account)) is None


async def test_one_remote_account_belongs_to_one_colleague(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    await _colleague(api, org, "cms-1")
    await _colleague(api, org, "cms-2")
    first = await api.post("/v1/ambassadors/cms-1/accounts", json=ACCOUNT, headers=_auth(org))
    assert first.status_code == 201
    # The same account typed differently (case, a leading @, a trailing slash) is the same.
    same = {**ACCOUNT, "handle": "@Alice", "base_url": "https://MASTODON.example"}
    taken = await api.post("/v1/ambassadors/cms-2/accounts", json=same, headers=_auth(org))
    assert taken.status_code == 409, taken.text
    # Another server's alice is another account.
    other = {**ACCOUNT, "base_url": "https://other.example"}
    assert (
        await api.post("/v1/ambassadors/cms-2/accounts", json=other, headers=_auth(org))
    ).status_code == 201
    # Once the first colleague disconnects it, the second may connect it.
    await api.delete(f"/v1/ambassadors/cms-1/accounts/{first.json()['id']}", headers=_auth(org))
    moved = await api.post("/v1/ambassadors/cms-2/accounts", json=same, headers=_auth(org))
    assert moved.status_code == 200 and moved.json()["ambassador_external_id"] == "cms-2"
    async with clean_db.sessions() as session:
        connected = await session.scalar(
            select(func.count()).select_from(Account).where(Account.status == "connected")
        )
    assert connected == 2


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ambassadors/cms-1", {"display_name": "Al\u0000ice"}),
        ("/v1/ambassadors/cms%00", {"display_name": "Alice"}),
        ("/v1/ambassadors/cms-1", {"display_name": "Alice", "timezone": "Europe/Par\u0000is"}),
        ("/v1/ambassadors/cms-1", {"display_name": "A\ud800"}),
        ("/v1/ambassadors/cms-1/accounts", {**ACCOUNT, "handle": "al\u0000ice"}),
        ("/v1/ambassadors/cms-1/accounts", {**ACCOUNT, "access_token": "tok\u0000en"}),
        ("/v1/ambassadors/cms-1/accounts", {**ACCOUNT, "access_token": "tökén"}),
        ("/v1/ambassadors/cms-1/accounts", {**ACCOUNT, "remote_account_id": "1\u00002"}),
    ],
)
async def test_control_characters_anywhere_are_a_422_not_a_500(
    api: httpx.AsyncClient, org: Org, clean_db: Database, path: str, body: dict[str, str]
) -> None:
    await _colleague(api, org, "cms-1")
    raw = json.dumps(body).encode()  # NUL and lone surrogates as JSON escapes
    method = api.post if path.endswith("/accounts") else api.put
    response = await method(
        path, content=raw, headers={**_auth(org), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    async with clean_db.sessions() as session:
        names = list(await session.scalars(select(Ambassador.display_name)))
        assert await session.scalar(select(Account)) is None
    assert names == ["cms-1"]


async def test_a_nul_in_a_list_cursor_is_a_422(api: httpx.AsyncClient, org: Org) -> None:
    response = await api.get("/v1/ambassadors", params={"cursor": "a\x00b"}, headers=_auth(org))
    assert response.status_code == 422
