"""The whole Chorus stack as real processes on loopback: PostgreSQL, RabbitMQ, the network
simulator and the four services. Used by `make run`, the integration tests and the benchmarks.

    with Stack(root=tmp) as stack:
        stack.start_all()
        key = stack.create_organisation("Acme")
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chorus.common.credentials import new_key
from chorus.devstack.postgres import LocalPostgres
from chorus.devstack.processes import free_port, spawn, stop_process, wait_until
from chorus.devstack.rabbitmq import LocalRabbitMQ

__all__ = ["SERVICES", "ServiceProcess", "Stack"]

SERVICES = ("gateway", "scheduler", "publisher", "metrics")


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[bytes]
    ops_url: str
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Stack:
    root: Path
    durable: bool = False
    pg_port: int | None = None
    mq_port: int | None = None
    gateway_port: int | None = None
    sim_port: int | None = None
    service_env: dict[str, str] = field(default_factory=dict)
    postgres: LocalPostgres | None = None
    rabbitmq: LocalRabbitMQ | None = None
    sim: ServiceProcess | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    credentials_key: str = field(default_factory=new_key)

    # -- servers ---------------------------------------------------------------------------
    def start_servers(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        postgres = LocalPostgres(root=self.root / "postgres", durable=self.durable)
        if self.pg_port is not None:
            postgres.port = self.pg_port
        self.postgres = postgres.start()
        rabbitmq = LocalRabbitMQ(root=self.root / "rabbitmq")
        if self.mq_port is not None:
            rabbitmq.port = self.mq_port
        self.rabbitmq = rabbitmq.start()

    @property
    def database_url(self) -> str:
        assert self.postgres is not None
        return self.postgres.url

    @property
    def amqp_url(self) -> str:
        assert self.rabbitmq is not None
        return self.rabbitmq.url

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "CHORUS_DATABASE_URL": self.database_url,
            "CHORUS_AMQP_URL": self.amqp_url,
            "CHORUS_CREDENTIALS_KEY": self.credentials_key,
            # The simulator lives on loopback and plain http: development only.
            "CHORUS_ALLOW_PRIVATE_NETWORKS": "true",
            "PYTHONUNBUFFERED": "1",
            **self.service_env,
            **extra,
        }

    def migrate(self) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "chorus.common.migrate"],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"migration failed:\n{result.stderr[-3000:]}")

    # -- processes -------------------------------------------------------------------------
    def start_simulator(self) -> str:
        port = self.sim_port or free_port()
        log = self.root / "logs" / "netsim.log"
        proc = spawn(
            [sys.executable, "-m", "chorus.netsim", "--port", str(port)], log=log, env=self.env()
        )
        url = f"http://127.0.0.1:{port}"
        self.sim = ServiceProcess("netsim", proc, url, log)
        wait_until(
            lambda: _healthy(url + "/healthz"),
            timeout=30,
            what="simulator",
            alive=self.sim.alive,
            log=log,
        )
        return url

    @property
    def sim_url(self) -> str:
        assert self.sim is not None
        return self.sim.ops_url

    def start_service(self, name: str, *, instance: str = "", **extra: str) -> ServiceProcess:
        """Start one service process and wait until its /healthz answers 200."""
        key = name + instance
        ops_port = free_port()
        env = self.env(CHORUS_OPS_PORT=str(ops_port), **extra)
        if name == "gateway":
            ops_port = self.gateway_port or free_port()
            env["CHORUS_PORT"] = str(ops_port)
        if name == "publisher":
            env.setdefault("NETWORK", "mastodon")
        log = self.root / "logs" / f"{key}.log"
        proc = spawn([sys.executable, "-m", f"chorus.{name}"], log=log, env=env)
        service = ServiceProcess(key, proc, f"http://127.0.0.1:{ops_port}", log)
        self.services[key] = service
        wait_until(
            lambda: _healthy(service.ops_url + "/healthz"),
            timeout=60,
            what=key,
            alive=service.alive,
            log=log,
        )
        return service

    @property
    def gateway_url(self) -> str:
        return self.services["gateway"].ops_url

    def stop_service(self, key: str) -> int | None:
        service = self.services.pop(key)
        stop_process(service.proc, timeout=30)
        return service.proc.returncode

    def start_all(self) -> None:
        self.start_servers()
        self.migrate()
        self.start_simulator()
        for name in SERVICES:
            self.start_service(name)

    def stop(self) -> None:
        for key in list(self.services)[::-1]:
            with contextlib.suppress(Exception):
                self.stop_service(key)
        if self.sim is not None:
            stop_process(self.sim.proc)
            self.sim = None
        if self.rabbitmq is not None:
            self.rabbitmq.stop()
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres.cleanup()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- seeding ---------------------------------------------------------------------------
    def create_organisation(self, name: str) -> str:
        """A new organisation, through the operators' command; returns its API key."""
        result = subprocess.run(
            [sys.executable, "-m", "chorus.gateway.admin", "create-organisation", name],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        keys = [ln.split()[-1] for ln in result.stdout.splitlines() if ln.startswith("api key")]
        if result.returncode != 0 or not keys:
            raise RuntimeError(f"creating an organisation failed:\n{result.stderr[-2000:]}")
        return keys[0]

    def seed_ambassadors(
        self, *, api_key: str, count: int, followers: int = 100, prefix: str = "colleague"
    ) -> list[dict[str, object]]:
        """`count` ambassadors, each with a Mastodon account at the simulator, via the API."""
        with httpx.Client(timeout=30) as http:
            sim_accounts = http.post(
                f"{self.sim_url}/_sim/accounts",
                json={
                    "network": "mastodon",
                    "username": prefix,
                    "count": count,
                    "followers": followers,
                },
            ).json()
            headers = {"Authorization": f"Bearer {api_key}"}
            made = []
            for i, sim in enumerate(sim_accounts):
                external_id = f"{prefix}-{i:06d}"
                response = http.put(
                    f"{self.gateway_url}/v1/ambassadors/{external_id}",
                    headers=headers,
                    json={"display_name": f"{prefix.title()} {i}", "timezone": "Europe/Paris"},
                )
                response.raise_for_status()
                account = http.post(
                    f"{self.gateway_url}/v1/ambassadors/{external_id}/accounts",
                    headers=headers,
                    json={
                        "network": "mastodon",
                        "handle": sim["username"],
                        "base_url": sim["base_url"],
                        "access_token": sim["token"],
                        "remote_account_id": sim["id"],
                    },
                )
                account.raise_for_status()
                made.append({"external_id": external_id, "sim": sim, **account.json()})
            return made
