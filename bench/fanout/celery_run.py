"""The Celery peer's run in the bench: its schema and accounts, then for each pool a worker
started as a real process (`celery -A bench.fanout.celery_peer worker`), one campaign timed from
the fan-out task's enqueue to the last share's recorded outcome, and the worker stopped (warm
shutdown, then the process group killed) whatever happened.

A run stops at its time budget: prefork x4 against a 200 ms network posts 20 shares/s, and
10,000 of them would take eight minutes for a rate the first minute already gives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine

from bench.fanout.celery_peer.app import FANOUT_QUEUE, SHARES_QUEUE, app
from bench.fanout.celery_peer.schema import (
    create_campaign,
    create_schema,
    progress,
    seed_accounts,
)
from bench.fanout.celery_peer.tasks import fan_out
from chorus.devstack.processes import spawn, stop_process, wait_until
from chorus.devstack.stack import Stack

__all__ = ["POOLS", "Peer", "PeerRun"]

REPO = Path(__file__).resolve().parents[2]
# (pool, concurrency): a process per core and then some, or threads to wait on the network.
POOLS = (("prefork", 4), ("threads", 64))


@dataclass(frozen=True)
class PeerRun:
    pool: str
    concurrency: int
    posted: int
    failed: int
    seconds: float
    cut: bool
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.posted / self.seconds if self.seconds > 0 else 0.0


def _consumers(queue: str) -> int:
    try:
        with app.connection_for_write() as connection:
            _, _, consumers = connection.default_channel.queue_declare(queue, passive=True)
    except Exception:  # the queue is not there yet: nobody consumes it
        return 0
    return int(consumers)


def _delete_queues() -> None:
    """Shares a cut run left behind go with their queues: the next run starts empty."""
    with app.connection_for_write() as connection:
        for queue in (FANOUT_QUEUE, SHARES_QUEUE):
            connection.default_channel.queue_delete(queue)


@dataclass
class Peer:
    stack: Stack
    org_id: uuid.UUID
    count: int
    latency_ms: int
    budget_seconds: float
    cpu_seconds: Callable[[], dict[str, float]]
    engine: Engine | None = None

    @property
    def database_url(self) -> str:
        assert self.stack.postgres is not None
        return self.stack.postgres.dsn.replace("postgresql://", "postgresql+psycopg://", 1)

    def prepare(self) -> None:
        self.engine = create_engine(self.database_url, pool_size=2)
        create_schema(self.engine)
        seed_accounts(self.engine, sim_url=self.stack.sim_url, org_id=self.org_id, count=self.count)
        app.conf.broker_url = self.stack.amqp_url

    def close(self) -> None:
        app.close()
        if self.engine is not None:
            self.engine.dispose()

    def run(self, pool: str, concurrency: int) -> PeerRun:
        log = self.stack.root / "logs" / f"celery-{pool}.log"
        worker = spawn(
            [
                sys.executable,
                *("-m", "celery", "-A", "bench.fanout.celery_peer", "-b", self.stack.amqp_url),
                *("worker", "--pool", pool, "--concurrency", str(concurrency)),
                *("-Q", f"{FANOUT_QUEUE},{SHARES_QUEUE}", "-n", f"peer-{pool}@%h"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"),
            ],
            log=log,
            env=self.stack.env(CELERY_PEER_DATABASE_URL=self.database_url),
            cwd=REPO,
        )
        try:
            wait_until(
                lambda: _consumers(SHARES_QUEUE) > 0,
                timeout=60,
                what=f"celery worker ({pool})",
                alive=lambda: worker.poll() is None,
                log=log,
            )
            return self._timed(pool, concurrency, worker, log)
        finally:
            self._stop(worker)
            _delete_queues()

    def _timed(
        self, pool: str, concurrency: int, worker: subprocess.Popen[bytes], log: Path
    ) -> PeerRun:
        assert self.engine is not None
        with httpx.Client(timeout=30) as http:
            faults = http.post(
                f"{self.stack.sim_url}/_sim/faults", json={"latency_ms": self.latency_ms}
            )
            faults.raise_for_status()
        campaign_id = create_campaign(
            self.engine, org_id=self.org_id, message=f"Peer {pool} {uuid.uuid4()}"
        )
        cpu_before = self.cpu_seconds()
        started = time.time()
        fan_out.delay(str(campaign_id))
        deadline = time.monotonic() + self.budget_seconds
        while True:
            seen = progress(self.engine, campaign_id)
            if seen.posted + seen.failed >= self.count or time.monotonic() > deadline:
                break
            if worker.poll() is not None:
                raise SystemExit(f"celery worker ({pool}) exited {worker.returncode}: see {log}")
            time.sleep(0.5)  # the end is read from the rows, not from this poll
        cpu = {k: v - cpu_before.get(k, 0.0) for k, v in self.cpu_seconds().items()}
        last = seen.last_finished_at.timestamp() if seen.last_finished_at else time.time()
        return PeerRun(
            pool=pool,
            concurrency=concurrency,
            posted=seen.posted,
            failed=seen.failed,
            seconds=last - started,
            cut=seen.posted + seen.failed < self.count,
            cpu=cpu,
        )

    @staticmethod
    def _stop(worker: subprocess.Popen[bytes]) -> None:
        # SIGTERM to the main process is Celery's warm shutdown: tasks in hand finish, the
        # rest go back unacknowledged. Whatever outstays it, the group's SIGKILL ends.
        if worker.poll() is None:
            worker.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=30)
        stop_process(worker, timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # a pool child the main process left behind
