"""The whole Chorus stack as real processes on loopback: PostgreSQL, RabbitMQ, the network
simulator and the four services. Used by `make run`, the integration tests and the benchmarks.

    with Stack(root=tmp) as stack:
        stack.start_all()
        key = stack.create_organisation("Acme")
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chorus.common.credentials import new_key
from chorus.devstack.bluesky import LocalBluesky
from chorus.devstack.postgres import LocalPostgres
from chorus.devstack.processes import free_port, spawn, stop_process, wait_until
from chorus.devstack.rabbitmq import LocalRabbitMQ

__all__ = [
    "ALL_NETWORKS",
    "OAUTH_NETWORKS",
    "SERVICES",
    "SIMULATED_NETWORKS",
    "ServiceProcess",
    "Stack",
]

SERVICES = ("gateway", "scheduler", "publisher", "metrics")
# The networks the simulator serves, and where each keeps its OAuth authorisation page.
SIMULATED_NETWORKS = ("mastodon", "x", "linkedin", "facebook")
# And Bluesky, a real network run locally (@atproto/dev-env).
ALL_NETWORKS = (*SIMULATED_NETWORKS, "bluesky")
OAUTH_NETWORKS = {
    "x": ("/i/oauth2/authorize", ""),
    "linkedin": ("/oauth/v2/authorization", "202610"),
    "facebook": ("/dialog/oauth", "v24.0"),
}


@dataclass
class ServiceProcess:
    name: str
    proc: subprocess.Popen[bytes]
    ops_url: str
    log: Path
    # Where the service answers its users (the gateway's API); its ops port serves /metrics.
    public_url: str | None = None

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
    # More settings for the stack's PostgreSQL (not the local Bluesky network's).
    postgres_settings: dict[str, str] = field(default_factory=dict)
    postgres: LocalPostgres | None = None
    rabbitmq: LocalRabbitMQ | None = None
    sim: ServiceProcess | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    bluesky: LocalBluesky | None = None
    bluesky_postgres: LocalPostgres | None = None
    credentials_key: str = field(default_factory=new_key)
    links_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    # -- servers ---------------------------------------------------------------------------
    def start_servers(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Known before anything starts: the networks send colleagues back to its callback.
        if self.gateway_port is None:
            self.gateway_port = free_port()
        postgres = LocalPostgres(
            root=self.root / "postgres", durable=self.durable, settings=self.postgres_settings
        )
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
            # A CMS tried out next to `make run` takes webhooks on loopback.
            "CHORUS_WEBHOOKS_ALLOW_PRIVATE": "true",
            # Seeding connects simulator accounts by token: development only.
            "CHORUS_ALLOW_RAW_TOKENS": "true",
            "CHORUS_PUBLIC_URL": f"http://127.0.0.1:{self.gateway_port}",
            # Posts carry each share's tracked link, served by this gateway.
            "CHORUS_LINKS_BASE_URL": f"http://127.0.0.1:{self.gateway_port}",
            "CHORUS_LINKS_KEY": self.links_key,
            # Seeding, the benchmarks and the contract fuzzing send thousands of requests
            # with one API key: development only.
            "CHORUS_RATE_LIMIT_PER_SECOND": "100000",
            "CHORUS_RATE_LIMIT_BURST": "100000",
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
        self._register_apps(url)
        return url

    def _register_apps(self, sim_url: str) -> None:
        """Chorus's app on each simulated network with OAuth, as an operator registers it at
        the real ones; the services get them in CHORUS_NETWORK_APPS."""
        callback = f"http://127.0.0.1:{self.gateway_port}/v1/connections/callback"
        apps = {}
        with httpx.Client(timeout=10) as http:
            for network, (auth_path, version) in OAUTH_NETWORKS.items():
                made = http.post(
                    f"{sim_url}/_sim/apps",
                    json={"network": network, "redirect_uris": [callback]},
                )
                made.raise_for_status()
                apps[network] = {
                    "client_id": made.json()["client_id"],
                    "client_secret": made.json()["client_secret"],
                    "api_url": f"{sim_url}/{network}",
                    "auth_url": f"{sim_url}/{network}{auth_path}",
                    "version": version,
                }
        self.service_env["CHORUS_NETWORK_APPS"] = json.dumps(apps)

    def start_bluesky(self) -> str:
        """The real Bluesky network, on a PostgreSQL of its own (it holds about 22 connections,
        which are not Chorus's to budget); its PDS's URL."""
        self.bluesky_postgres = LocalPostgres(
            root=self.root / "bluesky-postgres", durable=False
        ).start()
        self.bluesky = LocalBluesky(
            root=self.root / "bluesky", postgres_dsn=self.bluesky_postgres.dsn
        ).start()
        return self.bluesky.pds_url

    @property
    def sim_url(self) -> str:
        assert self.sim is not None
        return self.sim.ops_url

    def start_service(
        self, name: str, *, instance: str = "", timeout: float = 60, **extra: str
    ) -> ServiceProcess:
        """Start one service process and wait (up to `timeout` s) until its /healthz answers 200."""
        key = name + instance
        ops_port = free_port()
        env = self.env(CHORUS_OPS_PORT=str(ops_port), **extra)
        public_url = None
        if name == "gateway":
            # The API on its own port; /metrics only on the ops port, as in production.
            public_port = self.gateway_port or free_port()
            env["CHORUS_PORT"] = str(public_port)
            public_url = f"http://127.0.0.1:{public_port}"
        if name == "publisher":
            env.setdefault("NETWORK", "mastodon")
        log = self.root / "logs" / f"{key}.log"
        proc = spawn([sys.executable, "-m", f"chorus.{name}"], log=log, env=env)
        service = ServiceProcess(key, proc, f"http://127.0.0.1:{ops_port}", log, public_url)
        self.services[key] = service
        wait_until(
            lambda: _healthy(service.ops_url + "/healthz"),
            timeout=timeout,
            what=key,
            alive=service.alive,
            log=log,
        )
        return service

    @property
    def gateway_url(self) -> str:
        url = self.services["gateway"].public_url
        assert url is not None
        return url

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
        # A network handed in (the tests' session-wide one) is its owner's to stop.
        if self.bluesky is not None and self.bluesky_postgres is not None:
            self.bluesky.stop()
        self.bluesky = None
        if self.bluesky_postgres is not None:
            self.bluesky_postgres.stop()
            self.bluesky_postgres.cleanup()
            self.bluesky_postgres = None
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
    def create_organisation(self, name: str, *, spread_now: bool = False) -> str:
        """A new organisation, through the operators' command; returns its API key. Without
        `spread_now` (the default here: demos, tests and benches) a campaign without a window
        posts at once."""
        spread = [] if spread_now else ["--no-spread-now"]
        result = subprocess.run(
            [sys.executable, "-m", "chorus.gateway.admin", "create-organisation", name, *spread],
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
        self,
        *,
        api_key: str,
        count: int,
        followers: int = 100,
        prefix: str = "colleague",
        networks: tuple[str, ...] = ("mastodon",),
    ) -> list[dict[str, object]]:
        """`count` ambassadors, each with a Mastodon account at the simulator connected by
        token (development only), and an account on each other of `networks` connected as a
        colleague would: through the network's consent page, which the simulator lets a
        script click."""
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
            bluesky = (
                [self._bluesky_account(http, prefix) for _ in range(count)]
                if ("bluesky" in networks)
                else []
            )
            others = {
                network: http.post(
                    f"{self.sim_url}/_sim/accounts",
                    json={
                        "network": network,
                        "username": prefix,
                        "count": count,
                        "followers": followers,
                        # Facebook: a person who manages a page; Chorus posts as the page.
                        **({"kind": "user", "pages": 1} if network == "facebook" else {}),
                    },
                ).json()
                for network in networks
                if network not in ("mastodon", "bluesky")
            }
            headers = {"Authorization": f"Bearer {api_key}"}
            colleagues = [
                {
                    "external_id": f"{prefix}-{i:06d}",
                    "display_name": f"{prefix.title()} {i}",
                    "timezone": "Europe/Paris",
                }
                for i in range(len(sim_accounts))
            ]
            for start in range(0, len(colleagues), 1000):
                response = http.post(
                    f"{self.gateway_url}/v1/ambassadors:bulk",
                    headers=headers,
                    json={"ambassadors": colleagues[start : start + 1000]},
                )
                response.raise_for_status()
            made = []
            for i, sim in enumerate(sim_accounts):
                external_id = f"{prefix}-{i:06d}"
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
                for network, accounts in others.items():
                    self._connect_through_network(
                        http, headers, external_id, network, accounts[i]["id"]
                    )
                if bluesky:
                    handle, app_password = bluesky[i]
                    connected = http.post(
                        f"{self.gateway_url}/v1/ambassadors/{external_id}/connections/"
                        "bluesky/app-password",
                        headers=headers,
                        json={
                            "identifier": handle,
                            "app_password": app_password,
                            "service": self.bluesky_url,
                        },
                    )
                    connected.raise_for_status()
                made.append({"external_id": external_id, "sim": sim, **account.json()})
            return made

    @property
    def bluesky_url(self) -> str:
        assert self.bluesky is not None, "start_bluesky() first"
        return self.bluesky.pds_url

    def _bluesky_account(self, http: httpx.Client, prefix: str) -> tuple[str, str]:
        """A new account at the local PDS and an app password for it, as a colleague makes
        one in Bluesky's settings: (handle, app password)."""
        handle = f"{prefix[:8]}{secrets.token_hex(4)}.test"
        password = secrets.token_urlsafe(16)
        made = http.post(
            f"{self.bluesky_url}/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        made.raise_for_status()
        app_password = http.post(
            f"{self.bluesky_url}/xrpc/com.atproto.server.createAppPassword",
            headers={"Authorization": f"Bearer {made.json()['accessJwt']}"},
            json={"name": "chorus"},
        )
        app_password.raise_for_status()
        return handle, str(app_password.json()["password"])

    def _connect_through_network(
        self,
        http: httpx.Client,
        headers: dict[str, str],
        external_id: str,
        network: str,
        sim_account_id: str,
    ) -> None:
        started = http.post(
            f"{self.gateway_url}/v1/ambassadors/{external_id}/connections",
            headers=headers,
            json={"network": network},
        )
        started.raise_for_status()
        # The colleague clicks "Allow" on the network's page; the network sends the browser
        # back to Chorus's callback.
        allowed = http.get(f"{started.json()['authorization_url']}&sim_account={sim_account_id}")
        if "location" not in allowed.headers:
            raise RuntimeError(f"{network} did not send the colleague back: {allowed.text[:300]}")
        back = http.get(allowed.headers["location"])
        if back.status_code != 200:
            raise RuntimeError(f"connecting {network} failed: {back.status_code} {back.text}")
