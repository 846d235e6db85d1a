"""A campaign staged into a real PostgreSQL, at two sizes: rows/s and memory.

    python -m bench.staging --shares 100000 1000000 [--insert copy unnest]

Starts its own PostgreSQL (as `make run` does) and, for each size, seeds an organisation of
N/5 colleagues with one account on each of the five networks (COPY, in eight time zones),
then stages one campaign over two weeks in a separate process: the scheduler's own handler
(cursor, planner, COPY), one-second gap per network. Prints `N rows/s`, the staging process's
peak RSS and its PostgreSQL backends' peak RSS (the staging's and its reader's; the larger, and
the part of it not shared memory, which is what a backend adds to the server's buffers) for
each size: memory must not grow with N.
On a shared machine wall time says little, so it also prints the CPU seconds of the staging
process and of its backends, and the rows per CPU second of them all together.

The server gets `--shared-buffers`, PostgreSQL's own 128 MB by default. A million shares and
their indexes are about 700 MB; since a staging is one COPY, which reuses one bulk-write ring
for its heap pages (a COPY per batch took a fresh ring each time), the default measured the
same as 1 GB (92k rows/s both, before migration 0018 added `ix_shares_org_id_day`), where COPYs
per batch ran at 40k against 48k with 1 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.running import kept_on_failure
from chorus.common.kinds import Network
from chorus.common.migrate import upgrade
from chorus.devstack.postgres import LocalPostgres

ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)
NETWORKS = tuple(n.value for n in Network)
CHUNK = 50_000
MB = 1024 * 1024


def _ambassadors(org_id: uuid.UUID, ids: list[uuid.UUID], first: int) -> Iterator[tuple[Any, ...]]:
    for i, ambassador_id in enumerate(ids, first):
        yield ambassador_id, org_id, f"bench-{i:07d}", f"Bench {i}", ZONES[i % len(ZONES)]


def _accounts(org_id: uuid.UUID, ids: list[uuid.UUID], first: int) -> Iterator[tuple[Any, ...]]:
    for i, ambassador_id in enumerate(ids, first):
        for network in NETWORKS:
            handle = f"bench{i}"
            yield (
                uuid.uuid4(),
                org_id,
                ambassador_id,
                network,
                handle,
                "https://bench.example",
                f"bench.example/{handle}",
                b"not-used-by-staging",
            )


async def _seed(dsn: str, colleagues: int) -> tuple[uuid.UUID, uuid.UUID]:
    """An organisation, its colleagues and accounts (by COPY, in chunks), and one campaign."""
    connection = await asyncpg.connect(dsn)
    try:
        org_id = await connection.fetchval(
            "INSERT INTO organisations (name) VALUES ($1) RETURNING id", f"bench-{colleagues}"
        )
        for lo in range(0, colleagues, CHUNK):
            ids = [uuid.uuid4() for _ in range(min(CHUNK, colleagues - lo))]
            await connection.copy_records_to_table(
                "ambassadors",
                records=_ambassadors(org_id, ids, lo),
                columns=["id", "org_id", "external_id", "display_name", "timezone"],
            )
            await connection.copy_records_to_table(
                "accounts",
                records=_accounts(org_id, ids, lo),
                columns=[
                    "id",
                    "org_id",
                    "ambassador_id",
                    "network",
                    "handle",
                    "base_url",
                    "remote_key",
                    "credentials",
                ],
            )
        # Vacuumed and analysed now, as a long-standing organisation's tables are: otherwise
        # autovacuum takes up the freshly loaded tables (and the shares of the size staged
        # before) in the middle of the staging, on the cores it shares with PostgreSQL.
        for table in ("ambassadors", "accounts", "shares"):
            await connection.execute(f"VACUUM ANALYZE {table}")
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        campaign_id = await connection.fetchval(
            "INSERT INTO campaigns (org_id, title, url, message, networks, starts_at, ends_at) "
            "VALUES ($1, 'Bench', 'https://example.com/b', 'Bench', $2, $3, $4) RETURNING id",
            org_id,
            list(NETWORKS),
            start,
            start + timedelta(days=14),
        )
    finally:
        await connection.close()
    return org_id, campaign_id


def _sample(pids: list[int], done: threading.Event, peak: dict[str, float]) -> None:
    """The backends' CPU together, and the larger of their memories."""
    processes = [psutil.Process(pid) for pid in pids]
    started = [sum(p.cpu_times()[:2]) for p in processes]
    while not done.wait(0.05):
        try:
            memories = [p.memory_info() for p in processes]
            peak["cpu"] = sum(
                sum(p.cpu_times()[:2]) - s for p, s in zip(processes, started, strict=True)
            )
        except psutil.NoSuchProcess:
            return
        peak["rss"] = max(peak.get("rss", 0), *(m.rss for m in memories))
        peak["private"] = max(peak.get("private", 0), *(m.rss - m.shared for m in memories))


def _stage(
    database_url: str, org_id: uuid.UUID, campaign_id: uuid.UUID, insert: str
) -> dict[str, float]:
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.staging.stage",
            database_url,
            str(org_id),
            str(campaign_id),
            insert,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    backends = [int(pid) for pid in child.stdout.readline().split()]
    done = threading.Event()
    peak: dict[str, float] = {}
    sampler = threading.Thread(target=_sample, args=(backends, done, peak))
    sampler.start()
    output = child.stdout.read()
    done.set()
    sampler.join()
    if child.wait() != 0:
        raise SystemExit("the staging process failed")
    _, staged, seconds, cpu, rss = output.split()
    return {
        "staged": int(staged),
        "seconds": float(seconds),
        "cpu": float(cpu),
        "backend_cpu": peak.get("cpu", 0),
        "rss": int(rss),
        "backend_rss": peak.get("rss", 0),
        "backend_private": peak.get("private", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--insert",
        nargs="+",
        choices=["copy", "unnest"],
        default=["copy"],
        help="how shares are written",
    )
    parser.add_argument(
        "--shared-buffers",
        default="128MB",
        help="the server's shared_buffers (a million shares and their indexes are about 700 MB)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="chorus-bench-staging-"))
    with (
        kept_on_failure(root),
        LocalPostgres(
            root=root / "postgres", durable=False, shared_buffers=args.shared_buffers
        ) as pg,
    ):
        upgrade(database_url=pg.url)
        for shares in args.shares:
            for insert in args.insert:
                org_id, campaign_id = asyncio.run(_seed(pg.dsn, shares // len(NETWORKS)))
                _report(insert, _stage(pg.url, org_id, campaign_id, insert))


def _report(insert: str, result: dict[str, float]) -> None:
    staged, seconds = result["staged"], result["seconds"]
    cpu = result["cpu"] + result["backend_cpu"]
    print(
        f"{insert}: {int(staged)} shares staged in {seconds:.1f} s: {staged / seconds:,.0f} "
        f"rows/s; CPU {result['cpu']:.1f} s staging + {result['backend_cpu']:.1f} s PostgreSQL "
        f"backends = {staged / cpu:,.0f} rows per CPU second; peak memory: staging process "
        f"{result['rss'] / MB:.0f} MB, PostgreSQL backends "
        f"{result['backend_private'] / MB:.0f} MB of its own at most (RSS "
        f"{result['backend_rss'] / MB:.0f} MB with the server's shared buffers it touched)",
        flush=True,
    )


if __name__ == "__main__":
    main()
