"""Coalescing concurrent calls into one: many handlers each `await batcher.submit(item)`, and
one `flush(items)` call serves them all, so 100 posts in flight cost one database statement,
not 100. A caller gets its own result, or the batch's exception.

    claims = Batcher(flush=claim_many, max_size=100)
    job = await claims.submit(share_id)

At most `flights` flushes run at once; calls made meanwhile wait and go together in the next
one. Under load a batch then holds everything that arrived during the previous flush, so the
number of transactions follows the database's pace, not the number of callers.

Where a caller's wait costs nothing (metrics' bookkeeping of a published share), `linger`
seconds let a batch gather callers that arrive over several loop turns: at a few hundred
events a second, arriving a handful at a time, each flush's fixed cost (a statement, the acks'
write) is then shared by dozens. A batch of `max_size` goes at once, lingering or not.

A flush that fails fails every caller in it, which is right for an outage but not for one bad
item (a share whose row breaks the statement): `isolate(exc)` true, and each item of the failed
batch is flushed again on its own, so only the callers whose own item fails see an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self,
        *,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        max_size: int = 500,
        flights: int = 2,
        linger: float = 0.0,
        isolate: Callable[[Exception], bool] | None = None,
    ) -> None:
        self._flush = flush
        self._linger = linger
        self._isolate = isolate
        self._max_size = max_size
        self._flights = flights
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        # Flushes in progress: the loop keeps only weak references to tasks.
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._schedule()
        return await future

    async def submit_many(self, items: Sequence[T]) -> list[R]:
        """Each item's result, in order: what a message of many items asks in one call. Its
        items may share flushes with other callers' and be split over several."""
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[R]] = [loop.create_future() for _ in items]
        self._pending.extend(zip(items, futures, strict=True))
        if futures:
            self._schedule()
        # A failed flush fails the call; gather still marks the other flushes' errors seen.
        return list(await asyncio.gather(*futures))

    def _schedule(self) -> None:
        if len(self._pending) >= self._max_size:
            self._start_flush()
        elif not self._scheduled:
            # Flush once the callers already runnable in this loop turn have joined in: without
            # a linger no timer, so a lone call waits for nothing.
            self._scheduled = True
            if self._linger > 0:
                self._timer = asyncio.get_running_loop().call_later(self._linger, self._start_flush)
            else:
                asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        self._scheduled = False
        if self._timer is not None:
            # Started by a full batch: the lingering ones go with it.
            self._timer.cancel()
            self._timer = None
        # With `flights` flushes already running, the pending calls wait for one to end.
        while self._pending and len(self._running) < self._flights:
            batch, self._pending = self._pending[: self._max_size], self._pending[self._max_size :]
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except BaseException as exc:
            if (
                isinstance(exc, Exception)
                and len(batch) > 1
                and self._isolate
                and self._isolate(exc)
            ):
                await self._one_by_one(batch)
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        # One at a time, inside this flight: isolating a bad item must not take more of the
        # database at once than the batch did.
        for index, (item, future) in enumerate(batch):
            try:
                [result] = await self._flush([item])
            except BaseException as exc:
                if not future.done():
                    future.set_exception(exc)
                if not isinstance(exc, Exception):
                    for _, rest in batch[index + 1 :]:
                        if not rest.done():
                            rest.set_exception(exc)
                    raise
                continue
            if not future.done():
                future.set_result(result)
