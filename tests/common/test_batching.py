"""The batcher: concurrent calls share flushes, at most `flights` run at once, and what
arrives during a flush goes together in the next one (fewer transactions under load)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chorus.common.batching import Batcher


async def test_calls_arriving_during_a_flush_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    running = 0
    most = 0
    release = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        batches.append(list(items))
        if len(batches) == 1:
            await release.wait()  # the first flush is slow: everything else piles up
        running -= 1
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(flush=flush, flights=1)
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0)  # the first flush starts
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 51)]
    await asyncio.sleep(0)
    assert len(batches) == 1  # nothing else runs while the first flush is under way
    release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [i * 10 for i in range(1, 51)]
    assert batches == [[0], list(range(1, 51))] and most == 1


async def test_a_failed_flush_fails_only_its_own_callers() -> None:
    async def flush(items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise RuntimeError("database down")
        return list(items)

    batcher: Batcher[int, int] = Batcher(flush=flush, max_size=1)
    ok, bad = batcher.submit(1), batcher.submit(13)
    results = await asyncio.gather(ok, bad, return_exceptions=True)
    assert results[0] == 1 and isinstance(results[1], RuntimeError)


@pytest.mark.parametrize("flights", [1, 2, 3])
async def test_no_more_than_flights_flushes_at_once(flights: int) -> None:
    running = 0
    most = 0

    async def flush(items: Sequence[int]) -> list[int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return list(items)

    batcher: Batcher[int, int] = Batcher(flush=flush, max_size=5, flights=flights)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(40))) == list(range(40))
    assert most == flights


async def test_a_bad_item_fails_alone_when_the_error_says_isolate() -> None:
    flushed: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        flushed.append(list(items))
        if 13 in items:
            raise ValueError("item 13 breaks the statement")
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(
        flush=flush, isolate=lambda exc: isinstance(exc, ValueError)
    )
    results = await asyncio.gather(*(batcher.submit(i) for i in (1, 13, 2)), return_exceptions=True)
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], ValueError)
    # The whole batch once, then each item on its own.
    assert flushed == [[1, 13, 2], [1], [13], [2]]


async def test_an_outage_fails_the_whole_batch_without_trying_each_item() -> None:
    flushed: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        flushed.append(list(items))
        raise ConnectionRefusedError("database down")

    batcher: Batcher[int, int] = Batcher(
        flush=flush, isolate=lambda exc: not isinstance(exc, OSError)
    )
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert flushed == [[0, 1, 2, 3, 4]]


async def test_a_linger_gathers_calls_made_over_several_loop_turns() -> None:
    batches: list[list[int]] = []
    flushed = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        flushed.set()
        return list(items)

    batcher: Batcher[int, int] = Batcher(flush=flush, linger=0.05)
    calls = []
    for i in range(5):
        calls.append(asyncio.ensure_future(batcher.submit(i)))
        for _ in range(3):
            await asyncio.sleep(0)  # loop turns: without a linger, each call would go alone
    assert batches == []
    await asyncio.wait_for(flushed.wait(), 5)  # and the timer sends them, none left behind
    assert await asyncio.gather(*calls) == list(range(5))
    assert batches == [[0, 1, 2, 3, 4]]


async def test_a_full_batch_goes_without_lingering() -> None:
    batches: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return list(items)

    batcher: Batcher[int, int] = Batcher(flush=flush, linger=3600, max_size=3)
    full = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
    assert await asyncio.wait_for(asyncio.gather(*full), 5) == [0, 1, 2]
    # The calls after it linger until they fill a batch again.
    late = [asyncio.ensure_future(batcher.submit(i)) for i in range(3, 6)]
    assert await asyncio.wait_for(asyncio.gather(*late), 5) == [3, 4, 5]
    assert batches == [[0, 1, 2], [3, 4, 5]]


async def test_many_items_in_one_call_share_flushes_with_other_callers_in_order() -> None:
    batches: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(flush=flush, max_size=4)
    alone = asyncio.ensure_future(batcher.submit(100))
    many = asyncio.ensure_future(batcher.submit_many(list(range(6))))
    assert await many == [i * 10 for i in range(6)]
    assert await alone == 1000
    # The lone call and the message's items went together, cut at the batch's size.
    assert batches == [[100, 0, 1, 2], [3, 4, 5]]
    assert await batcher.submit_many([]) == []


async def test_many_items_in_one_call_fail_with_a_failed_flush() -> None:
    async def flush(items: Sequence[int]) -> list[int]:
        if 2 in items:
            raise RuntimeError(f"database down for {list(items)}")
        return list(items)

    batcher: Batcher[int, int] = Batcher(flush=flush, max_size=2)
    with pytest.raises(RuntimeError, match=r"database down for \[2\]"):
        await batcher.submit_many([0, 1, 2])
    assert await batcher.submit_many([0, 1]) == [0, 1]


async def test_a_cancelled_caller_of_many_leaves_the_others_in_its_flush_their_results() -> None:
    release = asyncio.Event()

    async def flush(items: Sequence[int]) -> list[int]:
        await release.wait()
        return [i * 10 for i in items]

    batcher: Batcher[int, int] = Batcher(flush=flush)
    cancelled = asyncio.ensure_future(batcher.submit_many([1, 2]))
    other = asyncio.ensure_future(batcher.submit_many([3]))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # both are in the one flush, which waits
    cancelled.cancel()
    release.set()
    assert await other == [30]
    with pytest.raises(asyncio.CancelledError):
        await cancelled
