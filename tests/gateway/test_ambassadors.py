"""Ambassadors and accounts: upserts the CMS can repeat, credentials never shown."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from chorus.common.credentials import CredentialsBox
from chorus.common.db import Database
from chorus.common.models import Account
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
    listed = (await api.get("/v1/ambassadors", headers=_auth(org))).json()
    assert [a["display_name"] for a in listed] == ["Alice B"]


async def test_unknown_time_zone_is_refused(api: httpx.AsyncClient, org: Org) -> None:
    response = await api.put(
        "/v1/ambassadors/cms-1",
        json={"display_name": "A", "timezone": "Mars/Olympus"},
        headers=_auth(org),
    )
    assert response.status_code == 422
    assert (await api.get("/v1/ambassadors", headers=_auth(org))).json() == []


async def test_account_credentials_are_encrypted_and_never_returned(
    api: httpx.AsyncClient, org: Org, clean_db: Database, credentials: CredentialsBox
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
    assert credentials.open(stored) == {"access_token": "super-secret-token"}


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


async def test_account_for_unknown_ambassador_is_404(api: httpx.AsyncClient, org: Org) -> None:
    response = await api.post("/v1/ambassadors/nobody/accounts", json=ACCOUNT, headers=_auth(org))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
