"""The stack `make run` starts, on every network at once: a publisher per network, colleagues
connected as they would connect (OAuth consent pages at the simulator for X, LinkedIn and
Facebook; an app password on the real local Bluesky; a token for Mastodon, development only),
and the campaign `make run` prints reaches every account exactly once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chorus.devstack.__main__ import create_campaign_curl
from chorus.devstack.bluesky import LocalBluesky
from chorus.devstack.stack import ALL_NETWORKS, Stack
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

COLLEAGUES = 8


@pytest.fixture(scope="module")
def stack(bsky: LocalBluesky) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="chorus-every-"))
    with Stack(root=root, service_env={"CHORUS_GAUGE_REFRESH_SECONDS": "0.5"}) as running:
        running.start_servers()
        running.migrate()
        running.start_simulator()
        running.bluesky = bsky
        for name in ("gateway", "scheduler", "metrics"):
            running.start_service(name)
        for network in ALL_NETWORKS:
            running.start_service("publisher", instance=network, NETWORK=network)
        yield running


async def _json(url: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url, **kwargs)
        answer.raise_for_status()
        return answer.json()


async def test_the_printed_campaign_reaches_every_account_on_every_network_once(
    stack: Stack, bsky: LocalBluesky
) -> None:
    key = stack.create_organisation("Everywhere")
    colleagues = await asyncio.to_thread(
        stack.seed_ambassadors, api_key=key, count=COLLEAGUES, networks=ALL_NETWORKS
    )
    assert len(colleagues) == COLLEAGUES
    command = create_campaign_curl(gateway_url=stack.gateway_url, api_key=key)
    result = await asyncio.to_thread(
        subprocess.run, ["bash", "-c", command], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["networks"] == list(ALL_NETWORKS)
    headers = {"Authorization": f"Bearer {key}"}
    report = await eventually(
        lambda: _json(f"{stack.gateway_url}/v1/campaigns/{created['id']}", headers=headers),
        until=lambda r: r["status"] == "completed",
        timeout=120,
        interval=0.5,
    )
    by_network = report["shares"]["by_network"]
    assert {n: by_network[n].get("published", 0) for n in ALL_NETWORKS} == {
        n: COLLEAGUES for n in ALL_NETWORKS
    }, by_network
    # Each colleague's own Facebook profile: no app may post there, so a share-dialog link.
    assert by_network["facebook"].get("manual") == COLLEAGUES
    stats = await _json(f"{stack.sim_url}/_sim/stats")
    assert stats["duplicates"] == 0
    for network in ("mastodon", "x", "linkedin", "facebook"):
        assert stats["by_network"][network]["posts"] == COLLEAGUES
