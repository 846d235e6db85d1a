"""The gateway's metrics are served on its ops port only: its public port (the one the public
Service and the NetworkPolicy expose) answers 404 on /metrics. The real `python -m
chorus.gateway` on the test servers."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chorus.common.credentials import new_key
from chorus.common.settings import BusSettings
from chorus.devstack.processes import free_port, spawn, stop_process, wait_until
from tests.conftest import Servers

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(
    servers: Servers, bus_settings: BusSettings, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """(public URL, ops URL) of a running gateway."""
    port, ops_port = free_port(), free_port()
    log = tmp_path / "gateway.log"
    proc = spawn(
        [sys.executable, "-m", "chorus.gateway"],
        log=log,
        env={
            **os.environ,
            "CHORUS_DATABASE_URL": servers.database_url,
            "CHORUS_AMQP_URL": servers.amqp_url,
            # It declares the queues on the tests' broker: with the tests' delivery limit, or
            # every later test's declaration would be refused as inequivalent.
            "CHORUS_DELIVERY_LIMIT": str(bus_settings.delivery_limit),
            "CHORUS_CREDENTIALS_KEY": new_key(),
            "CHORUS_PORT": str(port),
            "CHORUS_OPS_PORT": str(ops_port),
        },
    )
    public, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
    try:
        wait_until(
            lambda: _status(f"{public}/healthz") == 200 and _status(f"{ops}/healthz") == 200,
            timeout=60,
            what="gateway",
            alive=lambda: proc.poll() is None,
            log=log,
        )
        yield public, ops
    finally:
        stop_process(proc)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_metrics_are_on_the_ops_port_and_not_on_the_public_one(
    gateway: tuple[str, str],
) -> None:
    public, ops = gateway
    assert httpx.get(f"{public}/metrics").status_code == 404
    metrics = httpx.get(f"{ops}/metrics")
    assert metrics.status_code == 200
    assert "chorus_outbox_relayed_total" in metrics.text
    # Readiness and liveness answer on both: probes may use either.
    ready = httpx.get(f"{public}/healthz")
    assert ready.text == "database ok\nschema ok\nbus ok\n"
    assert httpx.get(f"{ops}/livez").status_code == 200
