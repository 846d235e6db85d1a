"""One publisher process alone against a slow network: how many posts a second it sustains.

    python -m bench.publisher --shares 4000 --latency-ms 200

Starts its own PostgreSQL, RabbitMQ and simulator on loopback, seeds N ambassadors each with one
Mastodon account, and has a campaign's N shares staged and released by the gateway and the
scheduler, which are then stopped: the N shares wait in the publisher's queue, in messages of
up to the scheduler's `CHORUS_SHARES_PER_MESSAGE`. The simulator then answers every call after
`--latency-ms`, and ONE publisher starts.

Prints the rate (`N posts/s`, from the publisher's first call to the network to the last post
the simulator recorded, and from the process's spawn), the posts in flight (sampled at the
simulator: calls received minus posts stored; Little's law beside it) and the publisher's CPU
milliseconds per post (its process and children, from ready to every outcome recorded).
Refuses a run with duplicate posts or a share left without its post.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aio_pika
import asyncpg
import httpx

from bench.cpu import cpu_seconds
from bench.running import kept_on_failure
from chorus.common.kinds import Network
from chorus.common.topology import publisher_queue
from chorus.common.wakeup import asyncpg_dsn
from chorus.devstack.seeding import organisation_id, seed
from chorus.devstack.stack import Stack
from chorus.publisher.settings import PublisherSettings

QUEUE = publisher_queue(Network.MASTODON).name
STATUS_CALL = "mastodon.create_status"


def _default(name: str) -> int:
    value = PublisherSettings.model_fields[name].default
    assert isinstance(value, int)
    return value


async def _share_counts(database_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch("SELECT status, count(*) AS n FROM shares GROUP BY status")
    finally:
        await connection.close()
    return {str(r["status"]): int(r["n"]) for r in rows}


async def _reasons(database_url: str) -> list[str]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT DISTINCT reason FROM shares WHERE status <> 'published' LIMIT 5"
        )
    finally:
        await connection.close()
    return [str(r["reason"]) for r in rows]


async def _waiting(amqp_url: str) -> int:
    """Messages ready in the publisher's queue (a passive declare: nothing is created)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)


def _stage_and_queue(stack: Stack, key: str, count: int, deadline: float) -> float:
    """Create the campaign and wait until its N shares are queued and their messages wait in
    the publisher's queue; returns the seconds that took."""
    started = time.monotonic()
    response = httpx.post(
        f"{stack.gateway_url}/v1/campaigns",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "title": "Bench",
            "url": "https://example.com/bench",
            "message": f"Benchmark {uuid.uuid4()}",
            "networks": ["mastodon"],
        },
        timeout=30,
    )
    response.raise_for_status()
    while True:
        counts = asyncio.run(_share_counts(stack.database_url))
        if counts.get("queued", 0) >= count:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"shares not all queued before the deadline: {counts}")
        time.sleep(0.2)
    waiting = asyncio.run(_waiting(stack.amqp_url))
    if not 0 < waiting <= count:
        raise SystemExit(f"{waiting} messages in {QUEUE} for {count} shares")
    return time.monotonic() - started


@dataclass
class Run:
    spawned: float
    ready: float = 0.0
    first_request: float = 0.0
    last_post: float = 0.0
    cpu_seconds: float = 0.0
    others: dict[str, float] = field(default_factory=dict)
    in_flight: list[int] = field(default_factory=list)


def _publish(stack: Stack, args: argparse.Namespace, deadline: float) -> Run:
    count: int = args.shares
    run = Run(spawned=time.time())
    publisher = stack.start_service(
        "publisher",
        instance="mastodon",
        NETWORK="mastodon",
        CHORUS_PREFETCH=str(args.prefetch),
        CHORUS_HTTP_MAX_CONNECTIONS=str(args.http_connections),
    )
    run.ready = time.time()
    cpu_before = cpu_seconds(stack)
    with httpx.Client(timeout=30) as http:
        while True:
            stats = http.get(f"{stack.sim_url}/_sim/stats").json()
            posts = int(stats["posts"])
            calls = int(stats["requests"].get(STATUS_CALL, 0))
            # Calls the simulator has received and not yet answered with a post: each waits
            # out its latency first. Sampled between the first call and the last post.
            if calls and posts < count:
                run.in_flight.append(calls - posts)
            if posts >= count:
                break
            if not publisher.alive():
                raise SystemExit(f"the publisher died; see {publisher.log}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"only {posts} of {count} posts before the deadline; shares: "
                    f"{asyncio.run(_share_counts(stack.database_url))}, why the rest wait: "
                    f"{asyncio.run(_reasons(stack.database_url))} (the scheduler is stopped: a "
                    "share delayed after an ambiguous answer is not released again)"
                )
            time.sleep(0.1)
        if stats["duplicates"]:
            raise SystemExit(f"{stats['duplicates']} duplicate posts: the run is invalid")
        run.last_post = float(stats["last_post_at"])
        created = [
            datetime.fromisoformat(str(p["created_at"])).timestamp()
            for p in http.get(f"{stack.sim_url}/_sim/posts", params={"network": "mastodon"}).json()
        ]
    run.first_request = min(created) - args.latency_ms / 1000
    # The publisher's work for a post ends when its outcome is recorded, not when it is sent.
    while (counts := asyncio.run(_share_counts(stack.database_url))).get("published", 0) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"outcomes not all recorded before the deadline: {counts}")
        time.sleep(0.1)
    spent = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(stack).items()}
    run.cpu_seconds = spent.pop("publisher")
    run.others = spent
    return run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.publisher")
    parser.add_argument("--shares", type=int, default=4000)
    parser.add_argument(
        "--latency-ms", type=int, default=200, help="time the simulator takes to answer each call"
    )
    parser.add_argument(
        "--prefetch", type=int, default=_default("prefetch"), help="CHORUS_PREFETCH"
    )
    parser.add_argument(
        "--http-connections",
        type=int,
        default=_default("http_max_connections"),
        help="CHORUS_HTTP_MAX_CONNECTIONS",
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="chorus-bench-publisher-"))
    with kept_on_failure(root):
        _run(args, root)


def _run(args: argparse.Namespace, root: Path) -> None:
    count: int = args.shares
    deadline = time.monotonic() + args.deadline
    with Stack(root=root, durable=True) as stack:
        stack.start_servers()
        stack.migrate()
        stack.start_simulator()
        stack.start_service("gateway")
        stack.start_service("scheduler")
        key = stack.create_organisation("Bench")
        org_id = asyncio.run(organisation_id(stack.database_url, "Bench"))
        asyncio.run(
            seed(
                database_url=stack.database_url,
                sim_url=stack.sim_url,
                credentials_key=stack.credentials_key,
                org_id=org_id,
                count=count,
            )
        )
        staging = _stage_and_queue(stack, key, count, deadline)
        # Only the publisher works from here on.
        stack.stop_service("scheduler")
        stack.stop_service("gateway")
        faults = httpx.post(
            f"{stack.sim_url}/_sim/faults", json={"latency_ms": args.latency_ms}, timeout=10
        )
        faults.raise_for_status()
        run = _publish(stack, args, deadline)

    seconds = run.last_post - run.first_request
    rate = count / seconds
    latency = args.latency_ms / 1000
    print(
        f"shares: {count} staged and queued in {staging:.1f} s; network latency "
        f"{args.latency_ms} ms; one publisher, prefetch {args.prefetch}, "
        f"http connections {args.http_connections}; {os.cpu_count()} cores"
    )
    print(f"{rate:.0f} posts/s")
    print(
        f"  {seconds:.2f} s from the publisher's first call to the last post; "
        f"{run.last_post - run.spawned:.2f} s from its spawn "
        f"({count / (run.last_post - run.spawned):.0f} posts/s with start-up, "
        f"{run.ready - run.spawned:.2f} s of it to /healthz)"
    )
    if run.in_flight:
        print(
            f"in flight: {statistics.mean(run.in_flight):.0f} on average, "
            f"{max(run.in_flight)} at most (sampled at the simulator, "
            f"{len(run.in_flight)} samples); Little's law rate x latency: "
            f"{rate * latency:.0f}"
        )
    else:
        print(f"in flight: no sample (run too short); Little's law: {rate * latency:.0f}")
    print(f"publisher cpu: {1000 * run.cpu_seconds / count:.2f} ms per post")
    print(
        "cpu ms per post elsewhere: "
        + ", ".join(f"{k} {1000 * v / count:.2f}" for k, v in sorted(run.others.items()))
    )


if __name__ == "__main__":
    main()
