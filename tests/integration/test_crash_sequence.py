"""A campaign of 1,000 shares at 40 ms a call through a sequence of crashes: the broker killed
(SIGKILL) at 16% of the posts, PostgreSQL crashed (`immediate` stop) at 42%, the publisher
killed at 63%. Every share ends with an outcome, each posted exactly once, and the campaign
completes within a bounded time of the last crash."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chorus.devstack.seeding import organisation_id, seed
from chorus.devstack.stack import Stack
from tests.integration.helpers import FAULT_ENV, eventually

pytestmark = pytest.mark.integration

SHARES = 1000
# After the last crash: the lease (8 s), a sweep (1 s), a lost message noticed (20 s), an
# attempt cut off by a crash given its minute to settle at the network (60 s), and the time to
# post what is left. Runs here take 10 s.
BOUND_AFTER_LAST_CRASH = 150.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="chorus-crash-"))
    with Stack(root=root, durable=True, service_env=FAULT_ENV) as running:
        running.start_all()
        yield running


async def _get(url: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url, **kwargs)
        response.raise_for_status()
        return response.json()


async def _posts(stack: Stack) -> int:
    return int((await _get(f"{stack.sim_url}/_sim/stats"))["posts"])


async def _report_or_none(stack: Stack, key: str, campaign_id: str) -> Any:
    try:
        return await _get(
            f"{stack.gateway_url}/v1/campaigns/{campaign_id}",
            headers={"Authorization": f"Bearer {key}"},
        )
    except httpx.HTTPError:
        return None  # the gateway answers 5xx while its database is down


async def test_a_campaign_survives_broker_database_and_publisher_crashes(stack: Stack) -> None:
    key = stack.create_organisation("Crashes")
    await seed(
        database_url=stack.database_url,
        sim_url=stack.sim_url,
        credentials_key=stack.credentials_key,
        org_id=await organisation_id(stack.database_url, "Crashes"),
        count=SHARES,
        prefix="crash",
    )
    async with httpx.AsyncClient(timeout=10) as http:
        (
            await http.post(f"{stack.sim_url}/_sim/faults", json={"latency_ms": 40})
        ).raise_for_status()
        created = await http.post(
            f"{stack.gateway_url}/v1/campaigns",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "title": "Crash sequence",
                "url": "https://example.com/crash",
                "message": "Crash sequence",
                "networks": ["mastodon"],
            },
        )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert stack.rabbitmq is not None and stack.postgres is not None

    async def at(fraction: float) -> None:
        await eventually(lambda: _posts(stack), until=lambda n: n >= fraction * SHARES, timeout=120)

    await at(0.16)
    stack.rabbitmq.kill()
    stack.rabbitmq.start()
    await at(0.42)
    stack.postgres.stop(mode="immediate")
    stack.postgres.start()
    await at(0.63)
    publisher = stack.services.pop("publisher")
    os.killpg(publisher.proc.pid, signal.SIGKILL)
    publisher.proc.wait(timeout=10)
    assert await _posts(stack) < SHARES, "the crashes came too late to prove anything"
    last_crash = time.monotonic()
    stack.start_service("publisher")

    report = await eventually(
        lambda: _report_or_none(stack, key, campaign_id),
        until=lambda r: r is not None and r["status"] == "completed",
        timeout=BOUND_AFTER_LAST_CRASH,
        interval=0.5,
    )
    took = time.monotonic() - last_crash
    assert report["shares"]["by_status"] == {"published": SHARES}, report["shares"]
    stats = await _get(f"{stack.sim_url}/_sim/stats")
    assert stats["posts"] == SHARES and stats["duplicates"] == 0
    print(f"completed {took:.1f} s after the last crash")
    await asyncio.sleep(0)
