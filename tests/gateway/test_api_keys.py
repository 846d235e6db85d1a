"""Several API keys per organisation: made, listed, rotated with a grace period, revoked; on
the real database, time moved by the test's clock."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from chorus.common.db import Database
from chorus.common.models import ApiKey
from chorus.common.settings import DatabaseSettings
from chorus.gateway.admin import create_organisation
from tests.conftest import Servers
from tests.factories import Org, make_org
from tests.gateway.conftest import Clock

pytestmark = pytest.mark.integration


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _works(api: httpx.AsyncClient, key: str) -> bool:
    status = (await api.get("/v1/api-keys", headers=_auth(key))).status_code
    assert status in (200, 401)
    return status == 200


async def _new_key(api: httpx.AsyncClient, org: Org, name: str = "CMS") -> dict[str, str]:
    made = await api.post("/v1/api-keys", json={"name": name}, headers=_auth(org.api_key))
    assert made.status_code == 201, made.text
    body: dict[str, str] = made.json()
    return body


async def test_a_new_key_is_shown_once_stored_hashed_and_works(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    made = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_auth(org.api_key))
    assert made.status_code == 201, made.text
    key = made.json()
    assert made.headers["location"] == f"/v1/api-keys/{key['id']}"
    assert key["status"] == "active" and key["prefix"] == key["key"][:15]
    assert key["key"].startswith("chorus_") and len(key["key"]) >= 50
    assert await _works(api, key["key"]) and await _works(api, org.api_key)

    listed = await api.get("/v1/api-keys", headers=_auth(key["key"]))
    assert sorted(k["name"] for k in listed.json()) == ["CMS", "tests"]
    assert all("key" not in k for k in listed.json())
    assert key["key"] not in listed.text and org.api_key not in listed.text
    one = await api.get(f"/v1/api-keys/{key['id']}", headers=_auth(org.api_key))
    assert one.status_code == 200 and "key" not in one.json()
    async with clean_db.sessions() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])))
    assert stored is not None
    assert stored.key_hash == hashlib.sha256(key["key"].encode()).hexdigest()
    assert key["key"] not in repr(stored.__dict__)


async def test_a_rotated_key_works_for_its_grace_period_then_is_refused(
    api: httpx.AsyncClient, org: Org, clock: Clock
) -> None:
    old = await _new_key(api, org)
    rotated = await api.post(
        f"/v1/api-keys/{old['id']}/rotate",
        json={"grace_seconds": 3600},
        headers=_auth(org.api_key),
    )
    assert rotated.status_code == 201, rotated.text
    current, previous = rotated.json()["current"], rotated.json()["previous"]
    assert rotated.headers["location"] == f"/v1/api-keys/{current['id']}"
    assert current["name"] == "CMS" and current["key"] != old["key"]
    assert previous["id"] == old["id"] and previous["status"] == "active"
    assert await _works(api, current["key"]) and await _works(api, old["key"])

    clock.advance(seconds=3599)
    assert await _works(api, old["key"])
    clock.advance(seconds=2)
    assert not await _works(api, old["key"])
    assert await _works(api, current["key"])
    shown = await api.get(f"/v1/api-keys/{old['id']}", headers=_auth(current["key"]))
    assert shown.json()["status"] == "expired"
    again = await api.post(f"/v1/api-keys/{old['id']}/rotate", headers=_auth(org.api_key))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_rotation_grace_is_a_day_by_default_and_never_extends_a_key(
    api: httpx.AsyncClient, org: Org, clock: Clock
) -> None:
    old = await _new_key(api, org)
    rotated = await api.post(f"/v1/api-keys/{old['id']}/rotate", headers=_auth(org.api_key))
    assert rotated.status_code == 201, rotated.text
    previous = rotated.json()["previous"]
    expected = clock.now + timedelta(hours=24)
    assert previous["expires_at"].replace("Z", "+00:00") == expected.isoformat()
    # Rotated again with a longer grace: it still ends when the first rotation said.
    longer = await api.post(
        f"/v1/api-keys/{old['id']}/rotate",
        json={"grace_seconds": 7 * 86400},
        headers=_auth(org.api_key),
    )
    assert longer.json()["previous"]["expires_at"] == previous["expires_at"]
    clock.advance(hours=24)
    assert not await _works(api, old["key"])


async def test_a_key_made_to_expire_stops_at_its_time(
    api: httpx.AsyncClient, org: Org, clock: Clock
) -> None:
    ends = clock.now + timedelta(days=30)
    made = await api.post(
        "/v1/api-keys",
        json={"name": "Temporary", "expires_at": ends.isoformat()},
        headers=_auth(org.api_key),
    )
    assert made.status_code == 201, made.text
    assert await _works(api, made.json()["key"])
    clock.advance(days=30)
    assert not await _works(api, made.json()["key"])
    past = await api.post(
        "/v1/api-keys",
        json={"name": "Late", "expires_at": (clock.now - timedelta(seconds=1)).isoformat()},
        headers=_auth(org.api_key),
    )
    assert past.status_code == 422
    assert past.json()["errors"][0]["location"] == ["body", "expires_at"]


async def test_revoking_works_at_once_but_never_the_last_working_key(
    api: httpx.AsyncClient, org: Org
) -> None:
    first = (await api.get("/v1/api-keys", headers=_auth(org.api_key))).json()[0]
    alone = await api.delete(f"/v1/api-keys/{first['id']}", headers=_auth(org.api_key))
    assert alone.status_code == 409
    assert alone.headers["content-type"] == "application/problem+json"
    assert await _works(api, org.api_key)

    second = await _new_key(api, org)
    revoked = await api.delete(f"/v1/api-keys/{first['id']}", headers=_auth(org.api_key))
    assert revoked.status_code == 204
    assert not await _works(api, org.api_key)
    again = await api.delete(f"/v1/api-keys/{first['id']}", headers=_auth(second["key"]))
    assert again.status_code == 204
    last = await api.delete(f"/v1/api-keys/{second['id']}", headers=_auth(second["key"]))
    assert last.status_code == 409
    listed = (await api.get("/v1/api-keys", headers=_auth(second["key"]))).json()
    by_id = {k["id"]: k for k in listed}
    assert {i: k["status"] for i, k in by_id.items()} == {
        first["id"]: "revoked",
        second["id"]: "active",
    }
    assert by_id[first["id"]]["revoked_at"] is not None


async def test_last_used_is_written_at_most_once_a_minute(
    api: httpx.AsyncClient, org: Org, clock: Clock
) -> None:
    async def last_used() -> str | None:
        keys = (await api.get("/v1/api-keys", headers=_auth(org.api_key))).json()
        value: str | None = keys[0]["last_used_at"]
        return value

    first = await last_used()
    assert first is not None
    clock.advance(seconds=59)
    assert await last_used() == first
    clock.advance(seconds=1)
    later = await last_used()
    assert later is not None and later > first


async def test_another_organisations_keys_answer_404(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    mine = await _new_key(api, org)
    other = await make_org(clean_db, name="other")
    theirs = _auth(other.api_key)
    for method, path in (
        ("GET", f"/v1/api-keys/{mine['id']}"),
        ("POST", f"/v1/api-keys/{mine['id']}/rotate"),
        ("DELETE", f"/v1/api-keys/{mine['id']}"),
        ("GET", f"/v1/api-keys/{uuid.uuid4()}"),
    ):
        response = await api.request(method, path, headers=theirs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert mine["name"] not in response.text and mine["prefix"] not in response.text
    listed = (await api.get("/v1/api-keys", headers=theirs)).json()
    assert [k["name"] for k in listed] == ["tests"]
    assert await _works(api, mine["key"])
    after = await api.get(f"/v1/api-keys/{mine['id']}", headers=_auth(org.api_key))
    assert after.json()["status"] == "active" and after.json()["expires_at"] is None


async def test_the_admin_command_makes_an_organisation_with_a_working_key(
    api: httpx.AsyncClient, clean_db: Database, servers: Servers
) -> None:
    org_id, key = await create_organisation(
        settings=DatabaseSettings(database_url=servers.database_url), name="Acme"
    )
    listed = await api.get("/v1/api-keys", headers=_auth(key))
    assert listed.status_code == 200
    assert [(k["name"], k["prefix"]) for k in listed.json()] == [("First key", key[:15])]
    async with clean_db.sessions() as session:
        owner = await session.scalar(select(ApiKey.org_id))
    assert owner == org_id
