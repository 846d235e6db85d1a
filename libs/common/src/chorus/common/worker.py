"""The life of a worker service, declared once: serve /healthz and /metrics, run background
loops, consume queues until SIGTERM, then stop taking messages, let in-flight ones finish, and
close everything.

    await serve_worker(settings=settings, db=db, bus=bus, consumers=[consumer],
                       loops=[relay.run], stop=stop, closers=[http.aclose])
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from chorus.common.bus import Bus, Consumer
from chorus.common.db import Database
from chorus.common.health import bus_ok, database_checks
from chorus.common.lifecycle import freeze_startup, supervise
from chorus.common.ops import serve_ops
from chorus.common.settings import ServiceSettings

log = logging.getLogger("chorus.worker")

__all__ = ["serve_worker"]


async def serve_worker(
    *,
    settings: ServiceSettings,
    db: Database,
    bus: Bus,
    consumers: Sequence[Consumer[Any]],
    loops: Sequence[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = (),
    stop: asyncio.Event,
    closers: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    async def health() -> dict[str, bool]:
        return {**await database_checks(db), "bus": bus_ok(bus)}

    try:
        async with (
            serve_ops(host=settings.ops_host, port=settings.ops_port, health=health),
            supervise(*loops, service_stop=stop),
        ):
            for consumer in consumers:
                await consumer.start()
            freeze_startup()
            log.info("started")
            await stop.wait()
            log.info("stopping: no new messages, waiting for those in flight")
            for consumer in consumers:
                await consumer.stop(grace=settings.shutdown_grace_seconds)
    finally:
        for close in closers:
            await _bounded(close(), "client")
        await _bounded(bus.close(), "bus")
        await _bounded(db.close(), "database")
        log.info("stopped")


async def _bounded(step: Awaitable[None], what: str, *, seconds: float = 5.0) -> None:
    """One shutdown step: bounded in time, and a failure is logged rather than stopping the
    steps after it (a broken connection must not keep the others open)."""
    try:
        await asyncio.wait_for(step, seconds)
    except Exception:
        log.exception("stopping the %s failed", what)
