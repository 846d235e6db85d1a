"""A token bucket per API key: 429 problem+json with Retry-After, one key never slowing
another; time moved by the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from chorus.gateway.ratelimit import TokenBuckets
from tests.factories import Org
from tests.gateway.conftest import GatewayFactory, client_for


@dataclass
class Ticks:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(rate=2, burst=3, clock=ticks)
    key, other = uuid.uuid4(), uuid.uuid4()
    assert [buckets.take(key) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take(key) == pytest.approx(0.5)
    assert buckets.take(other) == 0.0
    ticks.now += 0.5
    assert buckets.take(key) == 0.0
    assert buckets.take(key) == pytest.approx(0.5)
    ticks.now += 60
    assert [buckets.take(key) for _ in range(4)][-1] > 0  # refilled to the burst, not beyond


def test_each_replica_takes_its_share() -> None:
    share = TokenBuckets.for_replica(rate=20, burst=200, replicas=4)
    assert (share.rate, share.burst) == (5, 50)
    assert TokenBuckets.for_replica(rate=1, burst=1, replicas=3).burst == 1


def test_memory_holds_only_keys_still_refilling() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(rate=1, burst=2, clock=ticks, max_keys=3)
    keys = [uuid.uuid4() for _ in range(3)]
    for key in keys:
        buckets.take(key)
    ticks.now += 10  # all refilled: forgetting them changes nothing
    buckets.take(uuid.uuid4())
    assert len(buckets._buckets) == 1


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
async def limited(gateway_app: GatewayFactory, ticks: Ticks) -> AsyncIterator[httpx.AsyncClient]:
    limiter = TokenBuckets(rate=1, burst=3, clock=ticks)
    async with client_for(gateway_app(rate_limiter=limiter)) as client:
        yield client


@pytest.mark.integration
async def test_a_key_over_its_rate_gets_429_with_retry_after(
    limited: httpx.AsyncClient, org: Org, ticks: Ticks
) -> None:
    mine = {"Authorization": f"Bearer {org.api_key}"}
    made = await limited.post("/v1/api-keys", json={"name": "Other"}, headers=mine)
    assert made.status_code == 201
    other = {"Authorization": f"Bearer {made.json()['key']}"}
    assert [(await limited.get("/v1/api-keys", headers=mine)).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = await limited.get("/v1/api-keys", headers=mine)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["status"] == 429 and refused.json()["detail"]
    # Another key of the same organisation has its own bucket.
    assert (await limited.get("/v1/api-keys", headers=other)).status_code == 200
    # A refused POST claims no Idempotency-Key: the retry after Retry-After runs it.
    busy = await limited.post(
        "/v1/api-keys", json={"name": "Late"}, headers={**mine, "Idempotency-Key": "late"}
    )
    assert busy.status_code == 429
    ticks.now += 1
    late = await limited.post(
        "/v1/api-keys", json={"name": "Late"}, headers={**mine, "Idempotency-Key": "late"}
    )
    assert late.status_code == 201 and late.json()["key"]
    assert (await limited.get("/v1/api-keys", headers=mine)).status_code == 429
