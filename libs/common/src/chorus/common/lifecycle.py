"""How a service runs and stops: `run(main)` calls `main(stop)`; SIGTERM or SIGINT sets `stop`.

A service's `main` starts its work, awaits `stop`, then stops taking new work, lets in-flight
work finish (or hands it back to the broker) and closes its connections: Kubernetes sends
SIGTERM and waits for exactly that.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import uvloop

__all__ = ["configure_logging", "freeze_startup", "run", "supervise"]

log = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # aio-pika logs every reconnect attempt at WARNING with a stack; one line is enough.
    logging.getLogger("aio_pika").setLevel(logging.ERROR)
    logging.getLogger("aiormq").setLevel(logging.ERROR)
    # One INFO line per network request is noise at hundreds per second.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    # uvloop: the same asyncio API on libuv, markedly less CPU per message and request.
    uvloop.run(_run())


# Young collections once per this many new container objects, not Python's 700: a service
# makes and drops thousands per batch of messages, and at 700 the collector walked the
# survivors about a thousand times per 10,000 shares (7-10% of a publisher's CPU). The
# cycles it would free wait a little longer; reference counting frees everything else.
_YOUNG_THRESHOLD = 10_000


def freeze_startup() -> None:
    """Call once the service has started: what it made so far (modules, settings, pools,
    clients) lives as long as the process, so the cycle collector stops walking it on every
    full collection; and from then on it collects the young generation less often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, middle, old)


@contextlib.asynccontextmanager
async def supervise(
    *loops: Callable[[asyncio.Event], Coroutine[Any, Any, None]], service_stop: asyncio.Event
) -> AsyncIterator[None]:
    """Run background loops while the block runs; on exit, tell them to stop and wait.

    They stop only when the block ends, after the work the service was finishing: an outbox
    relay still sends what that work wrote. If a loop dies, `service_stop` is set, so the whole
    service stops (and its orchestrator restarts it) instead of living on half-working.
    """
    stop = asyncio.Event()
    tasks = [asyncio.create_task(loop(stop)) for loop in loops]

    def _on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("a service loop died; stopping", exc_info=task.exception())
            service_stop.set()

    for task in tasks:
        task.add_done_callback(_on_done)
    try:
        yield
    finally:
        stop.set()
        # A final round (the relay's drain) gets a few seconds; what is left stays in the
        # database for the next relay, so cutting it short loses nothing.
        if tasks:  # asyncio.wait refuses an empty set: a worker with no loops (its default)
            _, late = await asyncio.wait(tasks, timeout=10)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
