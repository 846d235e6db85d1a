"""`Idempotency-Key` on every POST, on the real database: stored answers, another request
under the same key, requests in flight, racing retries, 5xx not kept, 24 h retention."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select

from chorus.common.db import Database
from chorus.common.models import ApiKey, Campaign, IdempotencyRecord, OutboxEvent
from chorus.gateway.auth import OrgId
from chorus.gateway.idempotency import IdempotentRoute
from chorus.gateway.idempotency_store import forget_answers
from chorus.gateway.problems import Problem
from tests.factories import Org, make_org
from tests.gateway.conftest import Clock, GatewayFactory, client_for

pytestmark = pytest.mark.integration

CAMPAIGN = {
    "title": "Launch",
    "url": "https://example.com/launch",
    "message": "We shipped!",
    "networks": ["mastodon"],
}
RETENTION = timedelta(hours=24)
ACCOUNT = {
    "network": "mastodon",
    "handle": "alice",
    "base_url": "https://mastodon.example/",
    "access_token": "super-secret-token",
}


def _headers(org: Org, key: str | bytes | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"Authorization": f"Bearer {org.api_key}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def _count(db: Database, model: type[Any]) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@dataclass
class Probe:
    """A POST route that counts its runs; its first run waits for the test to let it go."""

    runs: int = 0
    hold_first: bool = True
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event = field(default_factory=asyncio.Event)
    failures: list[BaseException] = field(default_factory=list)

    def router(self) -> APIRouter:
        router = APIRouter(route_class=IdempotentRoute)

        @router.post("/v1/probe", status_code=201)
        async def probe(body: dict[str, int], org_id: OrgId) -> dict[str, int]:
            self.runs += 1
            run = self.runs
            self.entered.set()
            if run == 1 and self.hold_first:
                await self.proceed.wait()
            if self.failures:
                raise self.failures.pop(0)
            return {"run": run, **body}

        return router


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
async def probed(gateway_app: GatewayFactory, probe: Probe) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = gateway_app()
    app.include_router(probe.router())
    async with client_for(app) as client:
        yield client


async def test_a_retry_gets_the_first_answer_not_a_second_run(
    api: httpx.AsyncClient, org: Org
) -> None:
    await api.put("/v1/ambassadors/cms-1", json={"display_name": "A"}, headers=_headers(org))
    path = "/v1/ambassadors/cms-1/accounts"
    first = await api.post(path, json=ACCOUNT, headers=_headers(org, "connect-1"))
    again = await api.post(path, json=ACCOUNT, headers=_headers(org, "connect-1"))
    # Run twice, the second would answer 200 ("already connected"): this is the stored 201.
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert again.headers["idempotent-replayed"] == "true"
    # JSON is compared by meaning: the same body spaced or ordered otherwise is the same.
    reordered = dict(reversed(list(ACCOUNT.items())))
    third = await api.post(path, json=reordered, headers=_headers(org, "connect-1"))
    assert third.status_code == 201 and third.content == first.content
    fresh = await api.post(path, json=ACCOUNT, headers=_headers(org))
    assert fresh.status_code == 200


async def test_the_same_key_for_another_request_is_422_and_changes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    headers = _headers(org, "k-1")
    assert (await api.post("/v1/campaigns", json=CAMPAIGN, headers=headers)).status_code == 201
    for path, body in (
        ("/v1/campaigns", {**CAMPAIGN, "message": "Another"}),
        ("/v1/api-keys", {"name": "x"}),
    ):
        refused = await api.post(path, json=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "Idempotency-Key" in refused.json()["detail"]
    assert await _count(clean_db, Campaign) == 1 and await _count(clean_db, ApiKey) == 1


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "tab\there", "caf\u00e9".encode("latin-1"), "nul\x00"]
)
async def test_a_malformed_key_is_400_and_changes_nothing(
    api: httpx.AsyncClient, org: Org, clean_db: Database, key: str | bytes
) -> None:
    response = await api.post("/v1/campaigns", json=CAMPAIGN, headers=_headers(org, key))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in response.json()["detail"]
    assert await _count(clean_db, Campaign) == 0
    assert await _count(clean_db, IdempotencyRecord) == 0


async def test_the_longest_key_and_spaces_inside_are_fine(api: httpx.AsyncClient, org: Org) -> None:
    for key in ("x" * 255, "cms campaign #42 ~ {draft}"):
        made = await api.post("/v1/api-keys", json={"name": key[:9]}, headers=_headers(org, key))
        assert made.status_code == 201, made.text


async def test_a_key_is_the_organisations_own(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    other = await make_org(clean_db, name="other")
    mine = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "same"))
    theirs = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(other, "same"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert mine.json()["key"] and theirs.json()["key"]


async def test_a_replayed_new_key_is_not_shown_again_nor_stored(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    made = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "mk-1"))
    again = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "mk-1"))
    assert (made.status_code, again.status_code) == (201, 201)
    secret = made.json()["key"]
    assert secret and again.json() == {**made.json(), "key": None}
    assert again.headers["location"] == made.headers["location"]
    key_id = made.json()["id"]
    rotate = f"/v1/api-keys/{key_id}/rotate"
    rotated = await api.post(rotate, headers=_headers(org, "rot-1"))
    replayed = await api.post(rotate, headers=_headers(org, "rot-1"))
    assert rotated.json()["current"]["key"] and replayed.json()["current"]["key"] is None
    assert replayed.json()["current"]["id"] == rotated.json()["current"]["id"]
    async with clean_db.sessions() as session:
        bodies = list(await session.scalars(select(IdempotencyRecord.response_body)))
    assert len(bodies) == 2
    for body in bodies:
        assert body is not None
        assert secret.encode() not in body
        assert rotated.json()["current"]["key"].encode() not in body
    assert await _count(clean_db, ApiKey) == 3


async def test_while_the_first_is_in_flight_the_same_key_is_409(
    probed: httpx.AsyncClient, probe: Probe, org: Org
) -> None:
    first = asyncio.create_task(
        probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "slow"))
    )
    await probe.entered.wait()
    busy = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "slow"))
    assert busy.status_code == 409, busy.text
    assert busy.headers["content-type"] == "application/problem+json"
    assert busy.headers["retry-after"] == "1"
    probe.proceed.set()
    done = await first
    assert (done.status_code, done.json()) == (201, {"run": 1, "n": 1})
    replay = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "slow"))
    assert (replay.status_code, replay.json(), probe.runs) == (201, {"run": 1, "n": 1}, 1)


async def test_a_key_whose_holder_died_is_taken_over_after_its_lease(
    probed: httpx.AsyncClient, probe: Probe, org: Org, clock: Clock
) -> None:
    stuck = asyncio.create_task(
        probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "lost"))
    )
    await probe.entered.wait()
    clock.advance(seconds=119)
    busy = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "lost"))
    assert busy.status_code == 409
    clock.advance(seconds=2)  # past the 120 s lease: the holder counts as gone
    retry = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "lost"))
    assert (retry.status_code, retry.json()) == (201, {"run": 2, "n": 1})
    # The first holder finishing late does not overwrite what the retry stored.
    probe.proceed.set()
    assert (await stuck).json() == {"run": 1, "n": 1}
    replay = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "lost"))
    assert replay.json() == {"run": 2, "n": 1}


@pytest.mark.parametrize(
    "failure",
    [Problem(503, "The network did not answer; try again."), RuntimeError("boom")],
    ids=["handled-503", "unexpected-500"],
)
async def test_a_server_error_is_not_stored_and_a_retry_runs_again(
    probed: httpx.AsyncClient, probe: Probe, org: Org, clean_db: Database, failure: Exception
) -> None:
    probe.hold_first = False
    probe.failures.append(failure)
    failed = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "retry-me"))
    assert failed.status_code in (500, 503)
    assert failed.headers["content-type"] == "application/problem+json"
    assert await _count(clean_db, IdempotencyRecord) == 0
    retried = await probed.post("/v1/probe", json={"n": 1}, headers=_headers(org, "retry-me"))
    assert (retried.status_code, retried.json(), probe.runs) == (201, {"run": 2, "n": 1}, 2)


async def test_a_4xx_answer_is_stored_like_any_other(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    path = "/v1/ambassadors/nobody/accounts"
    missing = await api.post(path, json=ACCOUNT, headers=_headers(org, "k-404"))
    assert missing.status_code == 404
    await api.put("/v1/ambassadors/nobody", json={"display_name": "N"}, headers=_headers(org))
    again = await api.post(path, json=ACCOUNT, headers=_headers(org, "k-404"))
    assert again.status_code == 404 and again.content == missing.content
    assert again.headers["content-type"] == "application/problem+json"


async def test_two_identical_requests_racing_make_one_campaign(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    for attempt in range(8):
        headers = _headers(org, f"race-{attempt}")
        a, b = await asyncio.gather(
            api.post("/v1/campaigns", json=CAMPAIGN, headers=headers),
            api.post("/v1/campaigns", json=CAMPAIGN, headers=headers),
        )
        statuses = sorted((a.status_code, b.status_code))
        assert statuses in ([201, 201], [201, 409]), (a.text, b.text)
        if statuses == [201, 201]:
            assert a.json() == b.json()
    assert await _count(clean_db, Campaign) == 8
    assert await _count(clean_db, OutboxEvent) == 8


async def test_two_identical_key_creations_racing_make_one_key(
    api: httpx.AsyncClient, org: Org, clean_db: Database
) -> None:
    # No guard of its own here: only the idempotency layer stands between a retry and a key.
    for attempt in range(8):
        headers = _headers(org, f"race-key-{attempt}")
        a, b = await asyncio.gather(
            api.post("/v1/api-keys", json={"name": "CMS"}, headers=headers),
            api.post("/v1/api-keys", json={"name": "CMS"}, headers=headers),
        )
        assert sorted((a.status_code, b.status_code)) in ([201, 201], [201, 409])
    assert await _count(clean_db, ApiKey) == 1 + 8


async def test_answers_are_kept_a_day_then_swept(
    api: httpx.AsyncClient, org: Org, clean_db: Database, clock: Clock
) -> None:
    made = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "day"))
    clock.advance(hours=23, minutes=59)
    assert await forget_answers(db=clean_db, before=clock() - RETENTION) == 0
    kept = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "day"))
    assert kept.json()["id"] == made.json()["id"]
    clock.advance(minutes=1, seconds=1)
    assert await forget_answers(db=clean_db, before=clock() - RETENTION, batch=1) == 1
    assert await _count(clean_db, IdempotencyRecord) == 0
    anew = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "day"))
    assert anew.status_code == 201 and anew.json()["id"] != made.json()["id"]


async def test_an_expired_answer_not_yet_swept_counts_as_gone(
    api: httpx.AsyncClient, org: Org, clean_db: Database, clock: Clock
) -> None:
    made = await api.post("/v1/api-keys", json={"name": "CMS"}, headers=_headers(org, "old"))
    clock.advance(hours=24, seconds=1)
    other = await api.post("/v1/api-keys", json={"name": "New"}, headers=_headers(org, "old"))
    assert other.status_code == 201 and other.json()["id"] != made.json()["id"]


async def test_a_late_campaign_retry_still_makes_no_second_campaign(
    api: httpx.AsyncClient, org: Org, clean_db: Database, clock: Clock
) -> None:
    headers = _headers(org, "cms-campaign-7")
    first = await api.post("/v1/campaigns", json=CAMPAIGN, headers=headers)
    clock.advance(hours=25)
    await forget_answers(db=clean_db, before=clock() - RETENTION)
    late = await api.post("/v1/campaigns", json=CAMPAIGN, headers=headers)
    assert (first.status_code, late.status_code) == (201, 200)
    assert late.json()["id"] == first.json()["id"]
    assert await _count(clean_db, Campaign) == 1
