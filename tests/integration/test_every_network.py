"""The stack `make run` starts, on every network at once: a publisher per network, colleagues
connected as they would connect (OAuth consent pages at the simulator for X, LinkedIn and
Facebook; an app password on the real local Bluesky; a token for Mastodon, development only),
and the campaign `make run` prints reaches every account exactly once, each post with its
share's tracked link; the reach is read back on every network, a click is counted, and the
leaderboard answers."""

from __future__ import annotations

import asyncio
import json
import re
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

    # Each post carries its share's own link at the gateway, which redirects with UTM tags.
    posts = await _json(f"{stack.sim_url}/_sim/posts", params={"network": "mastodon"})
    pattern = re.compile(re.escape(stack.gateway_url) + r"/l/[0-9A-Za-z]+")
    links = {m.group(0) for p in posts if (m := pattern.search(p["text"]))}
    assert len(links) == COLLEAGUES, posts
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(min(links), headers={"User-Agent": BROWSER})
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("https://example.com/launch?utm_source=mastodon")

    def measured_everywhere(reach: dict[str, Any]) -> bool:
        networks = reach["networks"]
        return set(networks) == set(ALL_NETWORKS) and all(
            n["coverage"]["measured"] == n["coverage"]["published"] for n in networks.values()
        )

    reach = await eventually(
        lambda: _json(f"{stack.gateway_url}/v1/campaigns/{created['id']}/reach", headers=headers),
        until=measured_everywhere,
        timeout=60,
        interval=0.5,
    )
    assert reach["networks"]["mastodon"]["clicks"] == 1
    assert reach["networks"]["mastodon"]["coverage"]["tracked"] == COLLEAGUES
    assert reach["total"]["potential_reach"] is not None
    board = await _json(f"{stack.gateway_url}/v1/leaderboard", headers=headers)
    assert len(board["items"]) == COLLEAGUES
    assert board["items"][0]["reach"]["clicks"] == 1


BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
