"""End-to-end fan-out against a bare aio-pika baseline, in one run on the same broker.

    python -m bench.fanout --shares 10000

Starts its own PostgreSQL, RabbitMQ, simulator and services (as `make run` does), seeds N
ambassadors each with one Mastodon account, then times campaign POST -> last post recorded by
the simulator (no added latency). The baseline publishes and consumes N persistent messages
with confirms through the same RabbitMQ. Prints both rates and their ratio.

    python -m bench.fanout --shares 5000 --latency-ms 200

measures the other target of DESIGN.md: one publisher against a slow network (every simulator
answer takes that long), where the publisher's concurrency, not the network, must set the pace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psutil

from bench.cpu import cpu_seconds
from bench.fanout import pg_statements
from bench.fanout.baseline import bare_publish_consume
from bench.fanout.celery_run import POOLS, Peer, PeerRun
from bench.running import kept_on_failure
from chorus.common.wakeup import asyncpg_dsn
from chorus.devstack.seeding import organisation_id, seed
from chorus.devstack.stack import Stack


async def _fanout(stack: Stack, key: str, count: int, latency_ms: int) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        faults = await http.post(f"{stack.sim_url}/_sim/faults", json={"latency_ms": latency_ms})
        faults.raise_for_status()
        started = time.time()
        response = await http.post(
            f"{stack.gateway_url}/v1/campaigns",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "title": "Bench",
                "url": "https://example.com/bench",
                "message": f"Benchmark {uuid.uuid4()}",
                "networks": ["mastodon"],
            },
        )
        response.raise_for_status()
        deadline = time.monotonic() + 900
        while True:
            stats = (await http.get(f"{stack.sim_url}/_sim/stats")).json()
            if stats["posts"] >= count:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {stats['posts']} of {count} posts after 900 s")
            await asyncio.sleep(0.05)
    if stats["duplicates"]:
        raise SystemExit(f"{stats['duplicates']} duplicate posts: the run is invalid")
    return float(stats["last_post_at"]) - started


def _rss(stack: Stack) -> dict[str, float]:
    sizes = {}
    for name, service in stack.services.items():
        try:
            sizes[name] = psutil.Process(service.proc.pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout")
    parser.add_argument("--shares", type=int, default=10_000)
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="time the simulator takes to answer each call"
    )
    parser.add_argument(
        "--celery-budget-s",
        type=float,
        default=60.0,
        help="longest a Celery pool's run lasts; its rate counts the shares done by then",
    )
    parser.add_argument(
        "--pg-statements",
        type=int,
        default=0,
        metavar="N",
        help="track PostgreSQL's statements (pg_stat_statements, at some CPU cost to the run) "
        "and print the N costliest per share of Chorus's run",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="chorus-bench-"))
    with kept_on_failure(root):
        _run(args, root)


def _run(args: argparse.Namespace, root: Path) -> None:
    count: int = args.shares
    tracked = pg_statements.SETTINGS if args.pg_statements else {}
    with Stack(root=root, durable=True, postgres_settings=dict(tracked)) as stack:
        stack.start_all()
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
        # The baseline runs before and after, and the faster counts: the ratio is never
        # flattered by a baseline slowed down by work Chorus left running.
        before = asyncio.run(bare_publish_consume(stack.amqp_url, count=count))
        dsn = asyncpg_dsn(stack.database_url)
        wal = asyncio.run(pg_statements.reset(dsn)) if args.pg_statements else 0
        cpu_before = cpu_seconds(stack)
        chorus_seconds = asyncio.run(_fanout(stack, key, count, args.latency_ms))
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(stack).items()}
        statements = (
            asyncio.run(
                pg_statements.report(dsn, since_wal=wal, shares=count, top=args.pg_statements)
            )
            if args.pg_statements
            else []
        )
        rss = _rss(stack)
        after = asyncio.run(bare_publish_consume(stack.amqp_url, count=count))
        # Chorus's services stop before the peer runs: the peer gets the cores to itself.
        for service in list(stack.services):
            stack.stop_service(service)
        peer = Peer(
            stack=stack,
            org_id=org_id,
            count=count,
            latency_ms=args.latency_ms,
            budget_seconds=args.celery_budget_s,
            cpu_seconds=lambda: cpu_seconds(stack),
        )
        try:
            peer.prepare()
            peer_runs = [peer.run(pool, concurrency) for pool, concurrency in POOLS]
        finally:
            peer.close()
        duplicates = httpx.get(f"{stack.sim_url}/_sim/stats", timeout=60).json()["duplicates"]
        if duplicates:
            raise SystemExit(f"{duplicates} duplicate posts: the run is invalid")
    baseline_rate = count / min(before, after)
    chorus_rate = count / chorus_seconds
    print(f"shares: {count}, network latency: {args.latency_ms} ms, one publisher")
    print(f"chorus end to end: {chorus_seconds:.2f} s, {chorus_rate:.0f} shares/s")
    print(
        "baseline aio-pika publish+consume (persistent, confirms, quorum): "
        f"{count / before:.0f} msgs/s before, {count / after:.0f} msgs/s after"
    )
    print("rss MB after the run: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(rss.items())))
    print(
        "cpu ms per share: "
        + ", ".join(f"{k} {1000 * v / count:.2f}" for k, v in sorted(cpu.items()))
        + f" (total {1000 * sum(cpu.values()) / count:.2f}; the run had {os.cpu_count()} cores)"
    )
    print(f"ratio: {chorus_rate / baseline_rate:.2f}")
    for line in statements:
        print(line)
    for run in peer_runs:
        _print_peer(run)
    best = max(run.rate for run in peer_runs)
    if best > 0:
        print(f"vs celery: {chorus_rate / best:.2f}")
    else:
        # A budget shorter than Celery's own fan-out (100k shares in 5 s): no rate to compare.
        print("vs celery: none (no Celery pool posted a share within its budget)")


def _print_peer(run: PeerRun) -> None:
    done = f"{run.posted} posted in {run.seconds:.2f} s"
    if run.cut:
        done += f", cut at the budget (of {run.posted + run.failed} finished)"
    if run.failed:
        done += f", {run.failed} failed"
    print(f"celery {run.pool}: {run.rate:.0f} shares/s (x{run.concurrency}; {done})")
    per_share = max(run.posted, 1)
    print(
        f"celery {run.pool} cpu ms per share: "
        + ", ".join(
            f"{k} {1000 * v / per_share:.2f}" for k, v in sorted(run.cpu.items()) if v >= 0.005
        )
        + f" (total {1000 * sum(run.cpu.values()) / per_share:.2f})"
    )


if __name__ == "__main__":
    main()
