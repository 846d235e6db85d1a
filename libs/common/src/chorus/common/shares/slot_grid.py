"""One network's timeline for one campaign, cut into slots: the state of `spreading`.

Times are whole microseconds from the window's start. Slot `s` starts at `s * length`; a share
in it is posted at `s * length + jitter` with `jitter < length - gap`, so two shares in
different slots are always at least `gap` apart, whatever their jitter, and at most one share
takes a slot. The grid holds one byte per slot (taken or not) and a count per budget period:
its size follows the window and the gap, never the number of shares.

A colleague's open hours become runs of slots (`Runs`) whose jittered times all fall inside
them, so neither jitter nor the search can land a share in quiet hours or outside the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import NamedTuple

__all__ = ["GAPLESS_SLOT_US", "MAX_SLOTS", "Blocked", "Budget", "Runs", "SlotGrid"]

# Without a gap, slots only give shares somewhere to be drawn from: a second each, untracked.
GAPLESS_SLOT_US = 1_000_000
# Slots are made longer (more jitter, never less gap) past this many in one window: memory.
MAX_SLOTS = 1 << 22


class Budget(NamedTuple):
    """Shares per period, periods counted from the grid's start plus `offset_us`."""

    limit: int
    period_us: int
    offset_us: int
    # Shares already planned in each period (by index), from the caller.
    used: Mapping[int, int]


class Runs(NamedTuple):
    """A colleague's open slots: run `i` is [lo[i], hi[i]) on local date day[i]; before[i]
    open slots come before it."""

    lo: Sequence[int]
    hi: Sequence[int]
    day: Sequence[date]
    before: Sequence[int]
    total: int


class Blocked:
    """Why a search found nothing (set on the slow path only)."""

    __slots__ = ("budget", "capped", "gap")

    def __init__(self) -> None:
        self.capped = self.budget = self.gap = False


class SlotGrid:
    def __init__(self, *, span_us: int, gap_us: int, jitter_us: int, budget: Budget | None):
        if gap_us > 0:
            self.length = max(gap_us + jitter_us, -(-span_us // MAX_SLOTS))
            self.taken: bytearray | None = bytearray(span_us // self.length + 1)
        else:
            self.length = max(GAPLESS_SLOT_US, -(-span_us // MAX_SLOTS))
            self.taken = None
        self.jitter_span = self.length - gap_us
        self.budget = budget
        self.spent: dict[int, int] = dict(budget.used) if budget is not None else {}

    def runs(self, pieces: Sequence[tuple[int, int, date]]) -> Runs:
        """Open pieces [start_us, end_us) of local days, as the slots whose every jittered
        time lies inside them."""
        lo: list[int] = []
        hi: list[int] = []
        days: list[date] = []
        before: list[int] = []
        total = 0
        # A share's jitter is below `jitter_span`: the last slot is the last whose latest
        # possible time is still before the piece's end.
        latest = max(self.jitter_span - 1, 0)
        for start, end, day in pieces:
            first = -(-start // self.length)
            stop = (end - 1 - latest) // self.length + 1
            if first < stop:
                lo.append(first)
                hi.append(stop)
                days.append(day)
                before.append(total)
                total += stop - first
        return Runs(lo, hi, days, before, total)

    def period(self, at_us: int) -> int:
        assert self.budget is not None
        return (self.budget.offset_us + at_us) // self.budget.period_us

    def search(
        self,
        runs: Runs,
        run: int,
        slot: int,
        stop: int,
        jitter: int,
        full_days: Mapping[date, int],
        cap: int,
        blocked: Blocked,
    ) -> int:
        """The first slot from `slot` (in run `run`) before `stop` that is free, open, on a
        local day below `cap` and in a period with budget left; -1 if none."""
        taken, budget, length = self.taken, self.budget, self.length
        while run < len(runs.lo):
            lo = runs.lo[run]
            if lo >= stop:
                return -1
            hi = min(runs.hi[run], stop)
            slot = max(slot, lo)
            if full_days and full_days.get(runs.day[run], 0) >= cap:
                blocked.capped = True
                run += 1
                continue
            while slot < hi:
                if budget is not None:
                    period = (budget.offset_us + slot * length + jitter) // budget.period_us
                    if self.spent.get(period, 0) >= budget.limit:
                        blocked.budget = True
                        next_period = (period + 1) * budget.period_us - budget.offset_us
                        slot = -(-(next_period - jitter) // length)
                        continue
                if taken is not None:
                    free = taken.find(0, slot, hi)
                    if free < 0:
                        blocked.gap = True
                        break
                    if free != slot and budget is not None:
                        slot = free  # its period may be another: check again
                        continue
                    slot = free
                return slot
            run += 1
        return -1

    def spend(self, at_us: int) -> None:
        """A share at `at_us` counts in its budget period."""
        period = self.period(at_us)
        self.spent[period] = self.spent.get(period, 0) + 1

    def fitting(self, spans: Sequence[tuple[int, int]]) -> int | None:
        """How many shares these disjoint spans of slots take within the budget (a slot counts
        in the period it starts in); None if nothing limits them (no gap, no budget)."""
        budget = self.budget
        if budget is None:
            return None if self.taken is None else sum(hi - lo for lo, hi in spans)
        per_period: dict[int, int] = {}
        for lo, hi in spans:
            while lo < hi:
                period = self.period(lo * self.length)
                next_lo = -(-((period + 1) * budget.period_us - budget.offset_us) // self.length)
                end = min(hi, next_lo)
                per_period[period] = per_period.get(period, 0) + end - lo
                lo = end
        # Without a gap, one slot holds any number of shares: only the budget counts.
        return sum(
            max(0, budget.limit - self.spent.get(p, 0))
            if self.taken is None
            else max(0, min(n, budget.limit - self.spent.get(p, 0)))
            for p, n in per_period.items()
        )

    def size(self) -> int:
        """Entries held: slots tracked and budget periods counted."""
        return (len(self.taken) if self.taken is not None else 0) + len(self.spent)
