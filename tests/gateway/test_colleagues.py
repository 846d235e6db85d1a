"""Colleagues kept in sync by the CMS: a bulk upsert that changes nothing the second time (two
racing included), refusals that name the item, a status that stops shares and erases
credentials, reads of one colleague and of pages of them, and another organisation's ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.models import Account, Ambassador, ConsentEvent
from tests.factories import (
    Org,
    make_accounts,
    make_campaign,
    make_org,
    share_rows,
    sim_accounts,
)
from tests.gateway.conftest import GatewayFactory, client_for

pytestmark = pytest.mark.integration

BULK = "/v1/ambassadors:bulk"
# The gateway's own limit: a list of 1,000 colleagues fits.
BODY_LIMIT = 512 * 1024


@pytest.fixture
async def api(gateway_app: GatewayFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(gateway_app(max_body_bytes=BODY_LIMIT)) as client:
        yield client


def _auth(org: Org) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}"}


def _colleagues(count: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"cms-{i:04d}",
            "display_name": f"Colleague {i}",
            "timezone": "Europe/Paris" if i % 2 else "America/New_York",
            "quiet_hours": {"start": "21:30", "end": "08:00"},
            "groups": ["comms", f"team-{i % 3}"],
            **fields,
        }
        for i in range(count)
    ]


async def _rows(db: Database, org: Org) -> dict[str, Ambassador]:
    async with db.sessions() as session:
        rows = await session.scalars(select(Ambassador).where(Ambassador.org_id == org.id))
        return {r.external_id: r for r in rows}


async def test_the_same_list_twice_changes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    body = {"ambassadors": _colleagues(50)}
    first = await api.post(BULK, json=body, headers=_auth(org))
    assert first.status_code == 200, first.text
    assert (first.json()["created"], first.json()["updated"], first.json()["unchanged"]) == (
        50,
        0,
        0,
    )
    before = await _rows(clean_db, org)
    again = await api.post(BULK, json=body, headers=_auth(org))
    assert again.json()["unchanged"] == 50 and again.json()["created"] == 0
    assert [a["id"] for a in again.json()["ambassadors"]] == [
        a["id"] for a in first.json()["ambassadors"]
    ]
    after = await _rows(clean_db, org)
    assert {k: r.updated_at for k, r in after.items()} == {
        k: r.updated_at for k, r in before.items()
    }
    # Groups are a set: another order or a repeat is the same colleague.
    reordered = [{**c, "groups": [*reversed(c["groups"]), "comms"]} for c in body["ambassadors"]]
    same = await api.post(BULK, json={"ambassadors": reordered}, headers=_auth(org))
    assert same.json()["unchanged"] == 50

    changed = [dict(c) for c in body["ambassadors"][:3]]
    changed[0]["display_name"] = "Renamed"
    changed[1]["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    new = {**changed[2], "external_id": "cms-new"}
    result = await api.post(BULK, json={"ambassadors": [*changed, new]}, headers=_auth(org))
    assert [a["result"] for a in result.json()["ambassadors"]] == [
        "updated",
        "updated",
        "unchanged",
        "created",
    ]
    rows = await _rows(clean_db, org)
    assert rows["cms-0000"].display_name == "Renamed"
    assert rows["cms-0000"].updated_at > before["cms-0000"].updated_at
    assert rows["cms-0002"].updated_at == before["cms-0002"].updated_at
    assert str(rows["cms-0001"].quiet_start) == str(rows["cms-0001"].quiet_end) == "00:00:00"
    assert rows["cms-0003"].groups == ["comms", "team-0"]


async def test_two_identical_bulk_requests_racing_make_one_row_each(
    gateway_app: GatewayFactory, org: Org, clean_db: Database
) -> None:
    body = {"ambassadors": _colleagues(200)}
    async with (
        client_for(gateway_app(max_body_bytes=BODY_LIMIT)) as one,
        client_for(gateway_app(max_body_bytes=BODY_LIMIT)) as two,
    ):
        answers = await asyncio.gather(
            one.post(BULK, json=body, headers=_auth(org)),
            two.post(BULK, json=body, headers=_auth(org)),
            one.post(BULK, json=body, headers=_auth(org)),
        )
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    assert sum(a.json()["created"] for a in answers) == 200
    assert all(a.json()["updated"] == 0 for a in answers)
    ids = {tuple(x["id"] for x in a.json()["ambassadors"]) for a in answers}
    assert len(ids) == 1
    assert len(await _rows(clean_db, org)) == 200


async def test_a_refused_item_is_named_by_its_index_and_nothing_is_written(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    items = _colleagues(5)
    items[1]["quiet_hours"] = {"start": "24:00", "end": "07:00"}
    items[3]["timezone"] = "Mars/Olympus"
    items[4]["status"] = "retired"
    refused = await api.post(BULK, json={"ambassadors": items}, headers=_auth(org))
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    locations = [e["location"] for e in refused.json()["errors"]]
    assert locations == [
        ["body", "ambassadors", 1, "quiet_hours", "start"],
        ["body", "ambassadors", 3, "timezone"],
        ["body", "ambassadors", 4, "status"],
    ]
    assert "Mars/Olympus" in refused.json()["errors"][1]["message"]

    repeated = _colleagues(3)
    repeated[2]["external_id"] = repeated[0]["external_id"]
    twice = await api.post(BULK, json={"ambassadors": repeated}, headers=_auth(org))
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["location"] == ["body", "ambassadors", 2, "external_id"]
    assert "item 0" in twice.json()["errors"][0]["message"]

    too_many = await api.post(BULK, json={"ambassadors": _colleagues(1001)}, headers=_auth(org))
    assert too_many.status_code == 422, too_many.text
    assert too_many.json()["errors"][0]["location"] == ["body", "ambassadors"]
    assert await _rows(clean_db, org) == {}


@pytest.mark.parametrize(
    ("zone", "valid"),
    [
        ("Europe/Paris", True),
        ("UTC", True),
        ("America/Argentina/Buenos_Aires", True),
        ("Mars/Olympus", False),
        ("europe/paris", False),
        ("../../etc/passwd", False),
        ("/usr/share/zoneinfo/UTC", False),
        ("+02:00", False),
    ],
)
async def test_time_zones_are_iana_names(
    api: httpx.AsyncClient, org: Org, zone: str, valid: bool
) -> None:
    item = {"external_id": "cms-1", "display_name": "A", "timezone": zone}
    response = await api.post(BULK, json={"ambassadors": [item]}, headers=_auth(org))
    assert response.status_code == (200 if valid else 422), response.text
    single = await api.put(
        "/v1/ambassadors/cms-2", json={"display_name": "B", "timezone": zone}, headers=_auth(org)
    )
    assert single.status_code == (200 if valid else 422), single.text


async def test_defaults_and_the_single_upsert(api: httpx.AsyncClient, org: Org) -> None:
    made = await api.put("/v1/ambassadors/cms-1", json={"display_name": "A"}, headers=_auth(org))
    assert made.status_code == 200
    shown = made.json()
    assert shown["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert (shown["timezone"], shown["groups"], shown["status"]) == ("UTC", [], "active")
    again = await api.put("/v1/ambassadors/cms-1", json={"display_name": "A"}, headers=_auth(org))
    assert again.json() == shown


async def _staged(
    clean_db: Database, org: Org, keyring: Keyring, sim_http: httpx.AsyncClient, count: int
) -> tuple[uuid.UUID, list[str]]:
    """`count` colleagues with a connected account each, and a campaign staged for them the
    way the scheduler does it; returns the campaign and the colleagues' external ids."""
    from chorus.common.messages import CampaignCreated
    from chorus.scheduler.handlers import SchedulerHandlers

    accounts = await sim_accounts(sim_http, count=count)
    await make_accounts(clean_db, org=org, keyring=keyring, sim=accounts)
    campaign_id = await make_campaign(clean_db, org=org)
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    rows = await _rows(clean_db, org)
    return campaign_id, sorted(rows)


def _as(external_id: str, status: str) -> dict[str, Any]:
    return {"external_id": external_id, "display_name": external_id, "status": status}


async def test_pausing_and_leaving_cancel_planned_shares_and_leaving_erases_credentials(
    api: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    campaign_id, (paused, gone, staying) = await _staged(clean_db, org, keyring, sim_http, 3)
    assert {s.status for s in await share_rows(clean_db, campaign_id)} == {"planned"}
    body = {"ambassadors": [_as(paused, "paused"), _as(gone, "left"), _as(staying, "active")]}
    response = await api.post(BULK, json=body, headers=_auth(org))
    assert response.status_code == 200, response.text

    rows = await _rows(clean_db, org)
    async with clean_db.sessions() as session:
        accounts = {a.ambassador_id: a for a in await session.scalars(select(Account))}
        ledger = list(await session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))
    shares = {s.account_id: s for s in await share_rows(clean_db, campaign_id)}
    paused_share = shares[accounts[rows[paused].id].id]
    gone_share = shares[accounts[rows[gone].id].id]
    assert (paused_share.status, paused_share.reason) == (
        "cancelled",
        "the colleague was paused by the CMS",
    )
    assert (gone_share.status, gone_share.reason) == (
        "cancelled",
        "the colleague left the organisation",
    )
    assert shares[accounts[rows[staying].id].id].status == "planned"
    # Paused keeps the account; left erases it, and the ledger says the CMS withdrew it.
    assert accounts[rows[paused].id].status == "connected"
    assert accounts[rows[paused].id].credentials != b""
    gone_account = accounts[rows[gone].id]
    assert (gone_account.status, gone_account.credentials) == ("revoked", b"")
    assert [(e.ambassador_id, e.action, e.actor) for e in ledger] == [
        (rows[gone].id, "withdrawn", "cms")
    ]

    # Back to active restores nothing: the cancelled share stays cancelled, and the same
    # list again writes nothing more to the ledger.
    await api.post(BULK, json=body, headers=_auth(org))
    back = await api.post(BULK, json={"ambassadors": [_as(paused, "active")]}, headers=_auth(org))
    assert back.json()["updated"] == 1
    assert shares[accounts[rows[paused].id].id].status == "cancelled"
    again = {s.account_id: s for s in await share_rows(clean_db, campaign_id)}
    assert again[accounts[rows[paused].id].id].status == "cancelled"
    async with clean_db.sessions() as session:
        assert len(list(await session.scalars(select(ConsentEvent.id)))) == 1

    shown = (await api.get(f"/v1/ambassadors/{gone}", headers=_auth(org))).json()
    assert shown["status"] == "left"
    assert [(a["network"], a["status"]) for a in shown["accounts"]] == [("mastodon", "revoked")]
    assert [(c["network"], c["state"], c["actor"]) for c in shown["consent"]] == [
        ("mastodon", "withdrawn", "cms")
    ]


async def test_a_paused_colleague_gets_no_shares_of_a_new_campaign(
    api: httpx.AsyncClient,
    org: Org,
    clean_db: Database,
    keyring: Keyring,
    sim_http: httpx.AsyncClient,
) -> None:
    from chorus.common.messages import CampaignCreated
    from chorus.scheduler.handlers import SchedulerHandlers

    _, (paused, active) = await _staged(clean_db, org, keyring, sim_http, 2)
    await api.post(BULK, json={"ambassadors": [_as(paused, "paused")]}, headers=_auth(org))
    campaign_id = await make_campaign(clean_db, org=org)
    await SchedulerHandlers(db=clean_db).campaign_created(
        CampaignCreated(campaign_id=campaign_id, org_id=org.id)
    )
    rows = await _rows(clean_db, org)
    async with clean_db.sessions() as session:
        owner = {a.id: a.ambassador_id for a in await session.scalars(select(Account))}
    staged = [owner[s.account_id] for s in await share_rows(clean_db, campaign_id)]
    assert staged == [rows[active].id]


async def test_one_colleague_is_read_with_accounts_and_consent(
    api: httpx.AsyncClient, org: Org
) -> None:
    await api.put(
        "/v1/ambassadors/cms-1",
        json={"display_name": "Alice", "groups": ["comms"], "timezone": "Europe/Paris"},
        headers=_auth(org),
    )
    account = {
        "network": "mastodon",
        "handle": "alice",
        "base_url": "https://mastodon.example",
        "access_token": "t",
    }
    connected = await api.post("/v1/ambassadors/cms-1/accounts", json=account, headers=_auth(org))
    assert connected.status_code == 201
    shown = await api.get("/v1/ambassadors/cms-1", headers=_auth(org))
    assert shown.status_code == 200
    body = shown.json()
    assert (body["display_name"], body["groups"], body["status"]) == ("Alice", ["comms"], "active")
    [acc] = body["accounts"]
    assert (acc["network"], acc["status"], acc["status_reason"], acc["authorized_until"]) == (
        "mastodon",
        "connected",
        None,
        None,
    )
    [consent] = body["consent"]
    assert (consent["network"], consent["state"], consent["mode"], consent["actor"]) == (
        "mastodon",
        "granted",
        "auto",
        "cms",
    )
    assert "access_token" not in shown.text and '"t"' not in shown.text


async def test_another_organisations_colleagues_answer_404(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    other = await make_org(clean_db, name="other")
    await api.post(BULK, json={"ambassadors": _colleagues(3)}, headers=_auth(org))
    assert (await api.get("/v1/ambassadors/cms-0001", headers=_auth(other))).status_code == 404
    missing = await api.get("/v1/ambassadors/cms-0001/accounts", headers=_auth(other))
    assert missing.status_code == 404
    assert (await api.get("/v1/ambassadors", headers=_auth(other))).json()["items"] == []
    # The same external ids are the other organisation's own colleagues, not these.
    made = await api.post(BULK, json={"ambassadors": _colleagues(3)}, headers=_auth(other))
    assert made.json()["created"] == 3
    mine = (await api.get("/v1/ambassadors", headers=_auth(org))).json()["items"]
    theirs = (await api.get("/v1/ambassadors", headers=_auth(other))).json()["items"]
    assert not {a["id"] for a in mine} & {a["id"] for a in theirs}
    # Its cursor reads only its own list, whoever's id it carries.
    page = await api.get("/v1/ambassadors", params={"limit": 1}, headers=_auth(org))
    cursor = page.json()["next_cursor"]
    other_page = await api.get("/v1/ambassadors", params={"cursor": cursor}, headers=_auth(other))
    assert {a["id"] for a in other_page.json()["items"]} <= {a["id"] for a in theirs}


async def test_pages_cover_every_colleague_exactly_once(api: httpx.AsyncClient, org: Org) -> None:
    created = await api.post(BULK, json={"ambassadors": _colleagues(205)}, headers=_auth(org))
    expected = {a["id"] for a in created.json()["ambassadors"]}
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        page = await api.get("/v1/ambassadors", params=params, headers=_auth(org))
        assert page.status_code == 200, page.text
        seen.extend(a["id"] for a in page.json()["items"])
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        # A colleague added meanwhile sorts somewhere; those already listed stay listed once.
        if pages == 2:
            await api.post(BULK, json={"ambassadors": _colleagues(1)}, headers=_auth(org))
    assert len(seen) == len(set(seen)) and set(seen) == expected and pages == 5
    assert seen == sorted(seen, key=uuid.UUID)
    over = await api.get("/v1/ambassadors", params={"limit": 201}, headers=_auth(org))
    assert over.status_code == 422
    bad = await api.get("/v1/ambassadors", params={"cursor": "not-a-cursor"}, headers=_auth(org))
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == ["query", "cursor"]


async def test_the_list_filters_by_status_and_group(api: httpx.AsyncClient, org: Org) -> None:
    items = _colleagues(9)
    items[0]["status"] = items[1]["status"] = "paused"
    items[2]["status"] = "left"
    await api.post(BULK, json={"ambassadors": items}, headers=_auth(org))

    async def ids(**params: Any) -> set[str]:
        page = await api.get("/v1/ambassadors", params=params, headers=_auth(org))
        assert page.status_code == 200, page.text
        return {a["external_id"] for a in page.json()["items"]}

    assert await ids(status="paused") == {"cms-0000", "cms-0001"}
    assert await ids(status="left") == {"cms-0002"}
    assert await ids(group="team-1") == {"cms-0001", "cms-0004", "cms-0007"}
    assert await ids(group="team-1", status="active") == {"cms-0004", "cms-0007"}
    assert await ids(group="nobody") == set()
    assert len(await ids(group="comms")) == 9
    refused = await api.get("/v1/ambassadors", params={"status": "gone"}, headers=_auth(org))
    assert refused.status_code == 422


async def test_the_routes_are_documented_with_their_problems(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("post", "/v1/ambassadors:bulk"): {200, 400, 401, 409, 411, 413, 415, 422, 429, 500},
        ("put", "/v1/ambassadors/{external_id}"): {200, 400, 401, 411, 413, 415, 422, 429, 500},
        ("get", "/v1/ambassadors"): {200, 401, 422, 429, 500},
        ("get", "/v1/ambassadors/{external_id}"): {200, 401, 404, 422, 429, 500},
    }
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert {int(s) for s in operation["responses"]} == statuses, (method, path)
        for status in statuses - {200}:
            [(media_type, content)] = operation["responses"][str(status)]["content"].items()
            assert media_type == "application/problem+json", (method, path, status)
            assert content["example"]["status"] == status
    schemas = document["components"]["schemas"]
    for name in ("AmbassadorsIn", "AmbassadorsUpserted", "AmbassadorDetail", "AmbassadorPage"):
        assert schemas[name]["examples"], name
    assert schemas["AmbassadorStatus"]["enum"] == ["active", "paused", "left"]


async def test_a_full_list_of_a_thousand_fits_in_one_request(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    items = _colleagues(1000, display_name="A colleague with a rather long name, " + "x" * 60)
    for i, item in enumerate(items):
        item["external_id"] = f"cms-{i:04d}-" + "e" * 20
    body = {"ambassadors": items}
    assert len(httpx.Request("POST", "/", json=body).content) < BODY_LIMIT
    first = await api.post(BULK, json=body, headers=_auth(org))
    assert first.status_code == 200, first.text
    assert first.json()["created"] == 1000
    again = await api.post(BULK, json=body, headers=_auth(org))
    assert again.json()["unchanged"] == 1000
    assert len(await _rows(clean_db, org)) == 1000
