"""The /v1/webhooks routes on the real database: the secret shown once and sealed at rest, the
delivery log paged newest first, and another organisation's webhooks answering 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update

from chorus.common.credentials import Keyring
from chorus.common.db import Database
from chorus.common.models import WebhookDelivery, WebhookEndpoint
from tests.factories import Org, make_org

pytestmark = pytest.mark.integration

URL = "https://cms.example/chorus/hooks"


def _auth(org: Org, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {org.api_key}", **extra}


async def _create(api: httpx.AsyncClient, org: Org, **body: Any) -> dict[str, Any]:
    made = await api.post(
        "/v1/webhooks",
        json={"url": URL, "events": ["share.failed", "campaign.completed"], **body},
        headers=_auth(org),
    )
    assert made.status_code == 201, made.text
    answer: dict[str, Any] = made.json()
    return answer


async def test_the_secret_is_shown_once_and_sealed_at_rest(
    api: httpx.AsyncClient, org: Org, clean_db: Database, keyring: Keyring
) -> None:
    headers = _auth(org, **{"Idempotency-Key": "hook-1"})
    body = {"url": URL, "events": ["share.failed"]}
    made = await api.post("/v1/webhooks", json=body, headers=headers)
    assert made.status_code == 201, made.text
    hook = made.json()
    assert made.headers["location"] == f"/v1/webhooks/{hook['id']}"
    assert hook["secret"].startswith("whsec_") and hook["events"] == ["share.failed"]
    again = await api.post("/v1/webhooks", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == {**hook, "secret": None}

    listed = await api.get("/v1/webhooks", headers=_auth(org))
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    assert hook["secret"] not in listed.text and "secret" not in listed.json()[0]
    async with clean_db.sessions() as session:
        sealed = await session.scalar(select(WebhookEndpoint.sealed_secret))
    assert sealed is not None and hook["secret"].encode() not in sealed
    assert keyring.open_text(sealed) == hook["secret"]

    rotated = await api.post(f"/v1/webhooks/{hook['id']}/rotate-secret", headers=_auth(org))
    assert rotated.status_code == 201
    assert rotated.json()["secret"] not in (None, hook["secret"])
    async with clean_db.sessions() as session:
        sealed = await session.scalar(select(WebhookEndpoint.sealed_secret))
    assert sealed is not None and keyring.open_text(sealed) == rotated.json()["secret"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": "http://cms.example/hooks"}, "url"),  # not https
        ({"url": "https://10.0.0.7/hooks"}, "url"),  # intranet address, not allowed here
        ({"url": "https://169.254.169.254/latest"}, "url"),  # cloud metadata
        ({"events": ["share.published"]}, "events"),  # not a webhook event
        ({"events": []}, "events"),
    ],
)
async def test_endpoints_that_are_not_public_https_or_events_unknown_are_refused(
    api: httpx.AsyncClient, org: Org, body: dict[str, Any], where: str
) -> None:
    sent = {"url": URL, "events": ["share.failed"], **body}
    refused = await api.post("/v1/webhooks", json=sent, headers=_auth(org))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert where in str(refused.json()["errors"])
    assert (await api.get("/v1/webhooks", headers=_auth(org))).json() == []


async def test_another_organisations_webhook_answers_404(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    hook = await _create(api, org)
    other = await make_org(clean_db, name="other")
    path = f"/v1/webhooks/{hook['id']}"
    assert (await api.get("/v1/webhooks", headers=_auth(other))).json() == []
    for answer in (
        await api.get(f"{path}/deliveries", headers=_auth(other)),
        await api.post(f"{path}/rotate-secret", headers=_auth(other)),
        await api.delete(path, headers=_auth(other)),
        await api.get(f"/v1/webhooks/{uuid.uuid4()}/deliveries", headers=_auth(org)),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert (await api.get(f"{path}/deliveries", headers=_auth(org))).status_code == 200

    assert (await api.delete(path, headers=_auth(org))).status_code == 204
    assert (await api.delete(path, headers=_auth(org))).status_code == 404
    assert (await api.get("/v1/webhooks", headers=_auth(org))).json() == []


async def test_the_delivery_log_is_paged_newest_first(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    hook = await _create(api, org)
    start = datetime.now(UTC)
    log = [{"at": start.isoformat(), "status_code": 503, "error": "answered 503", "ms": 12}]
    async with clean_db.sessions.begin() as session:
        for i in range(5):
            await session.execute(
                insert(WebhookDelivery).values(
                    org_id=org.id,
                    endpoint_id=uuid.UUID(hook["id"]),
                    event_id=uuid.uuid4(),
                    event_type="share.failed",
                    payload={"n": i},
                    created_at=start + timedelta(seconds=i),
                    attempts=1,
                    attempt_log=log,
                )
            )
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=_auth(org)
        )
        assert page.status_code == 200, page.text
        pages += 1
        seen += [d["payload"]["n"] for d in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == ([4, 3, 2, 1, 0], 3)
    first = page.json()["items"][0]
    assert first["status"] == "pending" and first["attempt_log"][0]["status_code"] == 503
    bad = await api.get(
        f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "nope"}, headers=_auth(org)
    )
    assert bad.status_code == 422


async def test_the_webhook_routes_are_documented(api: httpx.AsyncClient) -> None:
    document = (await api.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("post", "/v1/webhooks"): {201, 400, 401, 409, 411, 413, 415, 422, 429, 500},
        ("get", "/v1/webhooks"): {200, 401, 429, 500},
        ("delete", "/v1/webhooks/{webhook_id}"): {204, 401, 404, 422, 429, 500},
        ("post", "/v1/webhooks/{webhook_id}/rotate-secret"): {
            201, 400, 401, 404, 409, 411, 413, 415, 422, 429, 500,
        },
        ("get", "/v1/webhooks/{webhook_id}/deliveries"): {200, 401, 404, 422, 429, 500},
        ("post", "/v1/webhooks/{webhook_id}/enable"): {200, 400, 401, 404, 409, 422, 429, 500},
        ("post", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): {
            202, 400, 401, 404, 409, 422, 429, 500,
        },
    }  # fmt: skip
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert {int(s) for s in operation["responses"]} == statuses, (method, path)
        for status in statuses - {200, 201, 202, 204}:
            content = operation["responses"][str(status)]["content"]
            assert list(content) == ["application/problem+json"], (method, path, status)
    schemas = document["components"]["schemas"]
    for name in ("WebhookIn", "WebhookOut", "WebhookSecret", "WebhookDelivery", "DeliveryPage"):
        assert schemas[name]["examples"], name
    assert set(schemas["WebhookEventType"]["enum"]) == {
        "campaign.completed",
        "campaign.cancelled",
        "share.failed",
        "account.needs_reauth",
        "consent.withdrawn",
    }


async def test_a_disabled_webhook_is_listed_with_its_reason_and_enabled_again(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    hook = await _create(api, org)
    assert hook["status"] == "active" and hook["disabled_at"] is None
    delivery_id = uuid.uuid4()
    async with clean_db.sessions.begin() as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == uuid.UUID(hook["id"]))
            .values(disabled_at=datetime.now(UTC), disabled_reason="the endpoint answered 410 Gone")
        )
        await session.execute(
            insert(WebhookDelivery).values(
                id=delivery_id,
                org_id=org.id,
                endpoint_id=uuid.UUID(hook["id"]),
                event_id=uuid.uuid4(),
                event_type="share.failed",
                payload={},
                status="failed",
                attempts=1,
            )
        )
    [listed] = (await api.get("/v1/webhooks", headers=_auth(org))).json()
    assert listed["status"] == "disabled"
    assert listed["disabled_reason"] == "the endpoint answered 410 Gone"
    redeliver = f"/v1/webhooks/{hook['id']}/deliveries/{delivery_id}/redeliver"
    refused = await api.post(redeliver, headers=_auth(org))
    assert refused.status_code == 409, refused.text
    assert "enable it first" in refused.json()["detail"]

    other = await make_org(clean_db, name="other")
    enable = f"/v1/webhooks/{hook['id']}/enable"
    assert (await api.post(enable, headers=_auth(other))).status_code == 404
    assert (await api.post(redeliver, headers=_auth(other))).status_code == 404
    enabled = await api.post(enable, headers=_auth(org))
    assert enabled.status_code == 200, enabled.text
    assert (enabled.json()["status"], enabled.json()["disabled_reason"]) == ("active", None)

    again = await api.post(redeliver, headers=_auth(org))
    assert again.status_code == 202, again.text
    assert (again.json()["status"], again.json()["attempts"]) == ("pending", 0)
    missing = f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/redeliver"
    assert (await api.post(missing, headers=_auth(org))).status_code == 404
