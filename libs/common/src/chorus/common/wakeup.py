"""Wake a polling loop the moment PostgreSQL says there is work (LISTEN/NOTIFY), and still poll
on a timer, so a lost notification or a dropped listener only costs latency, never work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

__all__ = ["Wakeup", "asyncpg_dsn", "wait_for_work"]

log = logging.getLogger(__name__)


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL (drops the `+asyncpg` driver suffix)."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Wakeup:
    """`async with Wakeup(dsn, "chorus_outbox") as w: await w.wait(timeout=1.0)`.

    With `dsn=None` nothing listens: only `poke()` from this process wakes the waiter.
    """

    def __init__(self, dsn: str | None, channel: str) -> None:
        self._dsn = dsn
        self._channel = channel
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Wake the waiter from inside this process (work it made itself)."""
        self._event.set()

    async def wait(self, *, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()

    async def _listen(self) -> None:
        while True:
            assert self._dsn is not None
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen on %s (%s); polling only", self._channel, exc)
                await asyncio.sleep(2)
                continue
            closed = asyncio.Event()
            try:
                connection.add_termination_listener(_setter(closed))
                await connection.add_listener(self._channel, self._on_notify)
                # Anything that arrived while we were not listening is found by the next poll.
                self._event.set()
                await closed.wait()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("listener on %s lost (%s)", self._channel, exc)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 2)
            await asyncio.sleep(1)

    def _on_notify(self, *_args: Any) -> None:
        self._event.set()

    async def __aenter__(self) -> Wakeup:
        if self._dsn is not None:
            self._task = asyncio.create_task(self._listen(), name=f"listen-{self._channel}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _setter(event: asyncio.Event) -> Callable[[object], None]:
    return lambda _connection: event.set()


async def wait_for_work(stop: asyncio.Event, wakeup: Wakeup, seconds: float) -> None:
    """Return when there may be new work, when asked to stop, or after `seconds`."""
    if seconds <= 0:
        return
    waiters = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(wakeup.wait(timeout=seconds)),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
