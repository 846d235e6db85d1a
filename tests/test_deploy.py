"""The deployment files describe the same stack as `make run`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from chorus.common.kinds import Network

ROOT = Path(__file__).resolve().parents[1]


def test_compose_file_is_valid_and_has_the_whole_stack() -> None:
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose (Debian package) is installed by `make test`"
    result = subprocess.run(
        [compose, "-f", str(ROOT / "docker-compose.yml"), "config"],
        env={**os.environ, "CHORUS_CREDENTIALS_KEY": "test-key"},
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
        "gateway",
        "scheduler",
        *(f"publisher-{network.value}" for network in Network),
        "metrics",
    }
    publishers = [f"publisher-{network.value}" for network in Network]
    for name in ("gateway", "scheduler", *publishers, "metrics"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["rabbitmq"]["condition"] == "service_healthy"
    for network in Network:
        assert services[f"publisher-{network.value}"]["environment"]["NETWORK"] == network.value


def test_compose_refuses_to_start_without_a_credentials_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHORUS_CREDENTIALS_KEY"}
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
