"""Every Grafana dashboard query returns data from a real Prometheus (Debian's `prometheus`)
scraping the whole stack as real processes, every second, through one small campaign on
Mastodon and LinkedIn: a 429 and a 503 on the first posts, one colleague's LinkedIn grant
revoked, and a malformed message on a publisher queue. The queries are read from
deploy/grafana/dashboards, so a panel added later is covered without touching this test."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from sqlalchemy import text

from chorus.common.db import open_database
from chorus.common.settings import DatabaseSettings
from chorus.devstack.processes import free_port, spawn, stop_process, wait_until
from chorus.devstack.stack import Stack
from tests.grafana import DASHBOARDS, load, queries, runnable
from tests.integration.helpers import FAULT_ENV, eventually

pytestmark = pytest.mark.integration

COLLEAGUES = 3
# Two networks keep it cheap: Mastodon, and LinkedIn where a grant can be revoked. Each has its
# own publisher, as in production.
NETWORKS = ("mastodon", "linkedin")
ENV = {
    **FAULT_ENV,
    "CHORUS_GAUGE_REFRESH_SECONDS": "0.5",
    # A 429's wait is honoured for at most 5 s (the shortest wait Chorus keeps).
    "CHORUS_LONGEST_RATE_WAIT_SECONDS": "5",
}
LABEL_VALUES = re.compile(r"label_values\((\w+),\s*(\w+)\)")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="chorus-dashboards-"))
    with Stack(root=root, service_env=ENV) as running:
        running.start_servers()
        running.migrate()
        running.start_simulator()
        for name in ("gateway", "scheduler", "metrics"):
            running.start_service(name)
        for network in NETWORKS:
            running.start_service("publisher", instance=network, NETWORK=network)
        yield running


class Prometheus:
    """Debian's Prometheus on a loopback port with a data folder of its own, scraping every
    service's /metrics each second."""

    def __init__(self, root: Path, targets: dict[str, str]) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "prometheus.log"
        jobs = "".join(
            f"  - job_name: {name}\n    static_configs:\n      - targets: ['{target}']\n"
            for name, target in targets.items()
        )
        self.config = root / "prometheus.yml"
        self.config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n" + jobs
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        binary = shutil.which("prometheus")
        assert binary, "prometheus (Debian package) is installed by `make test`"
        self.proc = spawn(
            [
                binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            log=self.log,
        )
        proc = self.proc
        wait_until(
            lambda: _ready(self.url),
            timeout=30,
            what="prometheus",
            alive=lambda: proc.poll() is None,
            log=self.log,
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(f"{self.url}/api/v1/query", params={"query": expr})
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def label_values(self, metric: str, label: str) -> list[str]:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(
                f"{self.url}/api/v1/label/{label}/values", params={"match[]": metric}
            )
        answer.raise_for_status()
        values: list[str] = answer.json()["data"]
        return values

    async def targets_up(self) -> list[str]:
        return [r["metric"]["job"] for r in await self.query("up == 1")]


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> Iterator[Prometheus]:
    targets = {
        name: service.ops_url.removeprefix("http://") for name, service in stack.services.items()
    }
    server = Prometheus(stack.root / "prometheus", targets)
    try:
        yield server.start()
    finally:
        server.stop()


async def _sim(stack: Stack, method: str, path: str, **body: Any) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.request(method, f"{stack.sim_url}{path}", json=body or None)
        answer.raise_for_status()
        return answer.json()


async def _run_a_campaign(stack: Stack) -> None:
    key = stack.create_organisation("Dashboards")
    await asyncio.to_thread(
        stack.seed_ambassadors,
        api_key=key,
        count=COLLEAGUES,
        followers=50,
        networks=NETWORKS,
    )
    headers = {"Authorization": f"Bearer {key}"}
    # One colleague withdraws Chorus's access at LinkedIn: that share fails, the account needs
    # connecting again.
    db = open_database(DatabaseSettings(database_url=stack.database_url), application_name="t")
    try:
        async with db.sessions() as session:
            linkedin = await session.scalar(
                text("SELECT remote_account_id FROM accounts WHERE network = 'linkedin' LIMIT 1")
            )
    finally:
        await db.close()
    await _sim(stack, "POST", f"/_sim/accounts/{linkedin}/revoke")
    # The first posts meet a rate limit and a server error.
    await _sim(stack, "POST", "/_sim/faults", next=["429", "503"])
    # A careless producer: the publisher dead-letters it.
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("chorus")
        await exchange.publish(
            aio_pika.Message(b"\x00garbage"), routing_key="share.requested.mastodon"
        )

    async with httpx.AsyncClient(timeout=30) as http:
        created = await http.post(
            f"{stack.gateway_url}/v1/campaigns",
            headers=headers,
            json={
                "title": "Dashboards",
                "url": "https://example.com/dashboards",
                "message": "Seen on every dashboard",
                "networks": list(NETWORKS),
            },
        )
        assert created.status_code == 201, created.text
        campaign = f"{stack.gateway_url}/v1/campaigns/{created.json()['id']}"

        async def report() -> Any:
            answer = await http.get(campaign, headers=headers)
            return answer.json()

        # When the 503 falls on Mastodon it is an ambiguous outcome: the share waits Mastodon's
        # 60 s settle before its look-up and retry, so the campaign may take over a minute.
        done = await eventually(report, until=lambda r: r["status"] == "completed", timeout=150)
    by_status = done["shares"]["by_status"]
    assert by_status.get("failed") == 1, by_status


async def test_every_dashboard_query_returns_data(stack: Stack, prometheus: Prometheus) -> None:
    started = time.monotonic()
    jobs = set(stack.services)
    # Every service is scraped before anything happens: the counters' first samples are there.
    await eventually(prometheus.targets_up, until=lambda up: set(up) == jobs, timeout=30)
    await _run_a_campaign(stack)

    panels = [
        (path.stem, title, expr) for path in DASHBOARDS for title, expr in queries(load(path))
    ]
    assert len(panels) >= 30, "the dashboards' queries were not found"

    async def empty() -> list[str]:
        # Rates and increases over a window spanning the whole test.
        window = f"{int(time.monotonic() - started) + 30}s"
        answers = await asyncio.gather(
            *(prometheus.query(runnable(expr, window=window)) for _, _, expr in panels)
        )
        return [
            f"{board} / {title}: {expr}"
            for (board, title, expr), result in zip(panels, answers, strict=True)
            if not result
        ]

    # The gauges follow the campaign within a refresh and a scrape: poll, then name the panels
    # still without data.
    try:
        await eventually(empty, until=lambda missing: not missing, timeout=20, interval=1)
    except AssertionError:
        missing = "\n".join(await empty())
        raise AssertionError(f"panels without data:\n{missing}") from None

    # The template variables offer values too ("All" plus each network or queue).
    for path in DASHBOARDS:
        for variable in load(path)["templating"]["list"]:
            [(metric, label)] = LABEL_VALUES.findall(variable["definition"])
            values = await prometheus.label_values(metric, label)
            assert values, f"{path.stem}: ${variable['name']} offers nothing"
