"""The deployment files describe the same stack as `make run`."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from pydantic import SecretStr

from chorus.common.credentials import new_key
from chorus.common.kinds import Network
from chorus.common.wakeup import asyncpg_dsn
from chorus.devstack.processes import free_port, spawn, stop_process, wait_until
from chorus.gateway.api_keys import hash_api_key
from tests.conftest import Servers

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_is_valid_and_has_the_whole_stack() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose (Debian package) is installed by `make test`"
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**os.environ, "CHORUS_CREDENTIALS_KEY": "test-key", "CHORUS_LINKS_KEY": "k" * 32},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services: dict[str, Any] = config["services"]
    assert set(services) == {
        "postgres",
        "rabbitmq",
        "migrate",
        "netsim",
        "seed",
        "gateway",
        "scheduler",
        *(f"publisher-{network.value}" for network in Network),
        "metrics",
        "prometheus",
        "grafana",
    }
    publishers = [f"publisher-{network.value}" for network in Network]
    for name in ("gateway", "scheduler", *publishers, "metrics"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
    for network in Network:
        assert services[f"publisher-{network.value}"]["environment"]["NETWORK"] == network.value
        # The simulator is on the compose network: a private address, plain http.
        environment = services[f"publisher-{network.value}"]["environment"]
        assert environment["CHORUS_ALLOW_PRIVATE_NETWORKS"] == "true"
    # Grafana starts provisioned: the data source and the dashboards as code are mounted, and
    # Prometheus with the alert rules beside its scrape configuration.
    assert (
        _mounts(services["grafana"]).items()
        >= {
            "/etc/grafana/provisioning": str(ROOT / "deploy/grafana/provisioning"),
            "/etc/grafana/dashboards": str(ROOT / "deploy/grafana/dashboards"),
        }.items()
    )
    assert (
        _mounts(services["prometheus"]).items()
        >= {
            "/etc/prometheus/prometheus.yml": str(ROOT / "deploy/prometheus/prometheus.yml"),
            "/etc/prometheus/alerts.yml": str(ROOT / "deploy/prometheus/alerts.yml"),
        }.items()
    )


def test_compose_seeds_the_demo_once_the_schema_and_the_simulator_are_up() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    seed = compose["services"]["seed"]
    assert seed["restart"] == "no"
    assert seed["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert seed["depends_on"]["netsim"]["condition"] == "service_healthy"
    # The accounts' server address is the one the publishers' containers reach.
    assert seed["environment"]["CHORUS_SEED_SIM_URL"] == "http://netsim:8090"
    assert "netsim" in compose["services"]
    dockerfile = (ROOT / seed["build"]["dockerfile"]).read_text()
    assert "COPY libs/devstack /app/libs/devstack" in dockerfile
    assert "COPY deploy/docker/seed.py /app/seed.py" in dockerfile


def _load_seed_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("seed", ROOT / "deploy/docker/seed.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sim_server(tmp_path: Path) -> Iterator[str]:
    """The network simulator over HTTP, as compose runs it."""
    port = free_port()
    log = tmp_path / "netsim.log"
    proc = spawn([sys.executable, "-m", "chorus.netsim", "--port", str(port)], log=log)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(
            healthy, timeout=30, what="simulator", alive=lambda: proc.poll() is None, log=log
        )
        yield url
    finally:
        stop_process(proc)


async def test_the_seed_makes_an_organisation_with_colleagues_and_prints_a_key(
    servers: Servers, sim_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """deploy/docker/seed.py against the real database and the simulator over HTTP."""
    seed = _load_seed_script()
    settings = seed.SeedSettings(
        database_url=servers.database_url,
        credentials_key=SecretStr(new_key()),
        seed_sim_url=sim_server,
        seed_colleagues=3,
    )
    await seed.main(settings)
    printed = capsys.readouterr().out
    [key] = [line.split()[-1] for line in printed.splitlines() if line.startswith("API key")]
    assert "curl -s -X POST http://localhost:8000/v1/campaigns" in printed and key in printed
    connection = await asyncpg.connect(asyncpg_dsn(servers.database_url))
    try:
        accounts = await connection.fetch(
            "SELECT a.base_url FROM accounts a JOIN api_keys k ON k.org_id = a.org_id "
            "WHERE k.key_hash = $1",
            hash_api_key(key),
        )
    finally:
        await connection.close()
    assert [a["base_url"] for a in accounts] == [f"{sim_server}/mastodon"] * 3


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts, as `config` prints them."""
    mounts = {}
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("/"):
            mounts[target] = source
    return mounts


def test_compose_refuses_to_start_without_a_credentials_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHORUS_CREDENTIALS_KEY"}
    env["CHORUS_LINKS_KEY"] = "k" * 32
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "CHORUS_CREDENTIALS_KEY" in result.stderr


IMAGES = {
    "gateway": "services/gateway",
    "scheduler": "services/scheduler",
    "publisher": "services/publisher",
    "metrics": "services/metrics",
    "netsim": "libs/netsim",
}
DEV_TOOLS = {"pytest", "mypy", "ruff", "celery", "pyyaml"}


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if line[:1].isalpha() and "==" in line:
            name, _, version = line.split(" ")[0].partition("==")
            pins[name] = version
    return pins


def test_every_image_installs_its_own_runtime_lock_from_the_repository_root() -> None:
    workspace = _pins(ROOT / "requirements.lock")
    for image, member in IMAGES.items():
        dockerfile = (ROOT / member / "Dockerfile").read_text()
        assert f"COPY {member}/requirements.lock " in dockerfile, image
        assert "--require-hashes" in dockerfile, image
        assert f"COPY {member} /app/{member}" in dockerfile, image
        lock = ROOT / member / "requirements.lock"
        pins = _pins(lock)
        assert pins, f"{lock} pins nothing"
        # Written from the same resolution as the workspace lock (`make lock`): same versions.
        assert {name: workspace.get(name) for name in pins} == pins, f"{lock} is stale"
        assert not DEV_TOOLS & set(pins), f"{image} image would carry dev tools"
        assert "uvicorn" in pins, image
        # Every workspace library the member depends on is copied in and installed.
        for library in _workspace_libraries(ROOT / member / "pyproject.toml"):
            assert f"COPY libs/{library} /app/libs/{library}" in dockerfile, (image, library)
            assert f"/app/libs/{library} " in dockerfile.split("COPY libs/")[-1], (image, library)


def _workspace_libraries(pyproject: Path) -> list[str]:
    import tomllib

    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d.removeprefix("chorus-") for d in dependencies if d.startswith("chorus-")]


def test_no_committed_lock_names_a_registry() -> None:
    for lock in [
        ROOT / "requirements.lock",
        *(ROOT / m / "requirements.lock" for m in IMAGES.values()),
    ]:
        text = lock.read_text()
        assert "://" not in text and "--index-url" not in text, lock


def test_compose_builds_each_service_from_its_own_dockerfile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            continue
        assert build["context"] == "."
        assert (ROOT / build["dockerfile"]).is_file(), name
