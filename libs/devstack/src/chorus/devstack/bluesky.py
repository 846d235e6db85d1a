"""A real Bluesky network on loopback: @atproto/dev-env's PLC directory, PDS and AppView, run by
Node 22 from a cache outside the checkout (scripts/bluesky/install.sh), on a PostgreSQL of ours.

    with LocalPostgres(root=tmp / "pg", durable=False) as pg, \\
         LocalBluesky(root=tmp / "bsky", postgres_dsn=pg.dsn) as bsky:
        alice = await bsky.create_account("alice")
        bob = await bsky.create_account("bob")
        uri, cid = await bsky.post(alice, "hello")
        await bsky.like(bob, uri, cid)       # getPosts shows likeCount 1 about 0.5 s later

It fails loudly (ServerFailedToStart, with the log's tail) when it cannot install or start; it is
never skipped. See /work/shared/networks.md sections 5 and 8 for what it needs and why.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import string
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from chorus.devstack.processes import (
    ServerFailedToStart,
    free_port,
    spawn,
    stop_process,
    wait_until,
)

__all__ = ["Account", "LocalBluesky", "install_bluesky"]

SCRIPTS = Path(__file__).resolve().parents[5] / "scripts" / "bluesky"
INSTALL_SCRIPT = SCRIPTS / "install.sh"
START_SCRIPT = SCRIPTS / "start.mjs"
READY_PREFIX = "READY "
# With rate limits on, the PDS gives each DID 5000 points of repo writes an hour, and a create
# costs 3 (@atproto/pds 0.5.35: dist/rate-limits.js "repo-write-hour",
# dist/api/com/atproto/repo/applyWrites.js `ratelimitPoints`).
REPO_WRITE_POINTS_PER_HOUR = 5000
CREATE_POINTS = 3


class Account(NamedTuple):
    """An account on the local PDS: `handle, did, password = await bsky.create_account("a")`."""

    handle: str
    did: str
    password: str


def install_bluesky(*, timeout: float = 900.0) -> Path:
    """Run install.sh (a no-op when the cache already holds this lockfile's install); its folder.

    Cold it takes a few minutes (downloads, then compiles better-sqlite3); warm, milliseconds."""
    try:
        result = subprocess.run(
            ["bash", str(INSTALL_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=SCRIPTS,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerFailedToStart(
            f"{INSTALL_SCRIPT} did not finish within {timeout:.0f}s\n{_tail(str(exc.stderr))}"
        ) from exc
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ServerFailedToStart(
            f"{INSTALL_SCRIPT} failed ({result.returncode})\n{_tail(result.stderr)}"
        )
    home = Path(lines[-1])
    if not (home / ".complete").is_file():
        raise ServerFailedToStart(f"{INSTALL_SCRIPT} printed {home}, which is not an install")
    return home


def node_binary(home: Path) -> Path:
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if arch is None:
        raise ServerFailedToStart(f"no Node 22 package for {platform.machine()}")
    return home / "node_modules" / f"node-linux-{arch}" / "bin" / "node"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _random_letters(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class LocalBluesky:
    """`with LocalBluesky(root=..., postgres_dsn=pg.dsn) as bsky: bsky.pds_url` gives a running
    network (PLC, PDS, AppView, ozone) and stops it after. `postgres_dsn` is a plain
    `postgresql://user:pass@host:port/db` URL (LocalPostgres.dsn; a `postgresql+asyncpg://` one
    is taken too); the network creates its own
    schemas in it, named after `schema` (letters and underscores, random by default).
    `rate_limits=True` makes the PDS enforce its limits (429s; see `exhaust_repo_writes`)."""

    root: Path
    postgres_dsn: str
    plc_port: int = field(default_factory=free_port)
    pds_port: int = field(default_factory=free_port)
    appview_port: int = field(default_factory=free_port)
    ozone_port: int = field(default_factory=free_port)
    schema: str = field(default_factory=lambda: "chorus_" + _random_letters(10))
    rate_limits: bool = False
    install_timeout: float = 900.0
    start_timeout: float = 120.0
    stop_timeout: float = 15.0
    # Filled in by start(), from the READY line.
    pds_url: str = ""
    appview_url: str = ""
    plc_url: str = ""
    appview_did: str = ""
    pds_did: str = ""
    startup_seconds: float = 0.0
    _proc: subprocess.Popen[bytes] | None = None
    _sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        return self.root / "bluesky.log"

    @property
    def _tmp(self) -> Path:
        # dev-env keeps the PDS's repos and blobs under os.tmpdir(): keep them in a folder of ours.
        return self.root / "tmp"

    @property
    def env(self) -> dict[str, str]:
        """What start.mjs is given (ports, PostgreSQL, schema), on top of our environment."""
        return {
            "DB_POSTGRES_URL": self.postgres_dsn,
            "REDIS_HOST": "unused:0",
            "LOG_ENABLED": "false",
            "CHORUS_BSKY_PLC_PORT": str(self.plc_port),
            "CHORUS_BSKY_PDS_PORT": str(self.pds_port),
            "CHORUS_BSKY_APPVIEW_PORT": str(self.appview_port),
            "CHORUS_BSKY_OZONE_PORT": str(self.ozone_port),
            "CHORUS_BSKY_SCHEMA": self.schema,
            "CHORUS_BSKY_RATE_LIMITS": "1" if self.rate_limits else "0",
        }

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalBluesky:
        # SQLAlchemy's form (LocalPostgres.url, Servers.database_url) names a driver Node lacks.
        self.postgres_dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", self.postgres_dsn)
        home = install_bluesky(timeout=self.install_timeout)
        node = node_binary(home)
        if not node.is_file():
            raise ServerFailedToStart(f"{home} has no Node 22 binary at {node}")
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(exist_ok=True)
        self.log.write_bytes(b"")
        env = {
            **os.environ,
            **self.env,
            "CHORUS_BSKY_MODULES": str(home),
            "TMPDIR": str(self._tmp),
        }
        started = time.monotonic()
        self._proc = spawn([str(node), str(START_SCRIPT)], log=self.log, env=env, cwd=self.root)
        try:
            wait_until(
                lambda: self._ready() is not None,
                timeout=self.start_timeout,
                what="the local Bluesky network (scripts/bluesky/start.mjs)",
                alive=self.alive,
                log=self.log,
            )
        except ServerFailedToStart as exc:
            code = self._proc.poll() if self._proc is not None else None
            self.stop()
            if code is None:
                raise
            tail = _tail(self.log.read_text(errors="replace"))
            raise ServerFailedToStart(
                f"scripts/bluesky/start.mjs exited with {code} before READY "
                f"(log: {self.log})\n{tail}"
            ) from exc
        except BaseException:
            self.stop()
            raise
        ready = self._ready()
        assert ready is not None
        self.startup_seconds = time.monotonic() - started
        self.pds_url = str(ready["pds"])
        self.appview_url = str(ready["appview"])
        self.plc_url = str(ready["plc"])
        self.appview_did = str(ready["appview_did"])
        self.pds_did = str(ready["pds_did"])
        return self

    def _ready(self) -> dict[str, Any] | None:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(READY_PREFIX):
                ready: dict[str, Any] = json.loads(line[len(READY_PREFIX) :])
                return ready
        return None

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL it after `stop_timeout`."""
        if self._proc is not None:
            stop_process(self._proc, timeout=self.stop_timeout)
            self._proc = None
        self._sessions.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> LocalBluesky:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Helpers for tests: accounts, and other accounts acting on a post so counts appear.

    @property
    def appview_proxy(self) -> str:
        """The `atproto-proxy` header value that sends an app.bsky.* call through the PDS to
        this AppView (the PDS also proxies app.bsky.* there by default)."""
        return f"{self.appview_did}#bsky_appview"

    async def xrpc(
        self,
        method: str,
        nsid: str,
        *,
        token: str | None = None,
        json_body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One XRPC call to the PDS (or `base_url`); the response, whatever its status."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(base_url=base_url or self.pds_url, timeout=30.0) as client:
            return await client.request(
                method, f"/xrpc/{nsid}", json=json_body, params=params, headers=sent
            )

    async def _call(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.xrpc(method, nsid, **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"{nsid} -> {response.status_code} {response.text}")
        body: dict[str, Any] = response.json() if response.content else {}
        return body

    async def create_account(self, handle_prefix: str) -> Account:
        """A new account `<prefix><random>.test` via com.atproto.server.createAccount."""
        prefix = "".join(c for c in handle_prefix.lower() if c.isalnum())[:10] or "user"
        if not prefix[0].isalpha():
            prefix = "u" + prefix[:9]
        handle = f"{prefix}{_random_letters(6)}.test"
        password = secrets.token_urlsafe(18)
        body = await self._call(
            "POST",
            "com.atproto.server.createAccount",
            json_body={"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        self._sessions[str(body["did"])] = body
        return Account(handle=str(body["handle"]), did=str(body["did"]), password=password)

    async def access_token(self, account: Account) -> str:
        """An access token for `account` (a session made once, then reused)."""
        session = self._sessions.get(account.did)
        if session is None:
            session = await self.create_session(account.handle, account.password)
            self._sessions[account.did] = session
        return str(session["accessJwt"])

    async def create_session(self, identifier: str, password: str) -> dict[str, Any]:
        """com.atproto.server.createSession: {accessJwt, refreshJwt, handle, did, ...}."""
        return await self._call(
            "POST",
            "com.atproto.server.createSession",
            json_body={"identifier": identifier, "password": password},
        )

    async def create_app_password(self, account: Account, name: str = "chorus") -> str:
        """An app password for `account` (com.atproto.server.createAppPassword)."""
        body = await self._call(
            "POST",
            "com.atproto.server.createAppPassword",
            token=await self.access_token(account),
            json_body={"name": name},
        )
        return str(body["password"])

    async def create_record(
        self, by: Account, collection: str, record: dict[str, Any]
    ) -> tuple[str, str]:
        """com.atproto.repo.createRecord in `by`'s repo; the new record's (uri, cid)."""
        body = await self._call(
            "POST",
            "com.atproto.repo.createRecord",
            token=await self.access_token(by),
            json_body={
                "repo": by.did,
                "collection": collection,
                "record": {"$type": collection, "createdAt": _now(), **record},
            },
        )
        return str(body["uri"]), str(body["cid"])

    async def exhaust_repo_writes(self, account: Account) -> httpx.Response:
        """Spend `account`'s hourly budget of repo writes in one request that writes nothing
        (rate limits on); the PDS's 429, whose `RateLimit-Reset` says when it refills.

        One applyWrites with more creates than the hour allows. Its points are counted once its
        input is valid, before the handler runs (@atproto/xrpc-server dist/server.js), and the
        limiter keeps them even as it refuses (rate-limiter-flexible RateLimiterMemory.consume):
        every repo write of the account (putRecord, 2 points) is refused until the reset. With
        rate limits off the handler refuses more than 200 writes, so nothing is written then
        either."""
        creates = REPO_WRITE_POINTS_PER_HOUR // CREATE_POINTS + 1
        write = {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": "app.bsky.feed.post",
            "value": {},
        }
        return await self.xrpc(
            "POST",
            "com.atproto.repo.applyWrites",
            token=await self.access_token(account),
            json_body={"repo": account.did, "writes": [write] * creates},
        )

    async def post(self, by: Account, text: str) -> tuple[str, str]:
        return await self.create_record(by, "app.bsky.feed.post", {"text": text})

    async def like(self, by: Account, uri: str, cid: str) -> str:
        """`by` likes the post {uri, cid}; the like record's uri."""
        made, _ = await self.create_record(
            by, "app.bsky.feed.like", {"subject": {"uri": uri, "cid": cid}}
        )
        return made

    async def repost(self, by: Account, uri: str, cid: str) -> str:
        made, _ = await self.create_record(
            by, "app.bsky.feed.repost", {"subject": {"uri": uri, "cid": cid}}
        )
        return made

    async def follow(self, by: Account, did: str) -> str:
        made, _ = await self.create_record(by, "app.bsky.graph.follow", {"subject": did})
        return made

    async def get_posts(self, viewer: Account, *uris: str) -> list[dict[str, Any]]:
        """app.bsky.feed.getPosts through the PDS, as `viewer` (counts come from the AppView)."""
        body = await self._call(
            "GET",
            "app.bsky.feed.getPosts",
            token=await self.access_token(viewer),
            params={"uris": list(uris)},
            headers={"atproto-proxy": self.appview_proxy},
        )
        posts: list[dict[str, Any]] = body["posts"]
        return posts
