"""When each share of a campaign goes out, so that fifty colleagues read as fifty people: pure
(no database, no clock), streaming, deterministic for a seed.

A share is planned at a time drawn uniformly over its colleague's open hours in the window (the
hours outside quiet hours on their own clock, `open_hours`), then moved forward, wrapping to
the window's start, to the first time that also keeps:
- the account under `daily_cap` shares on that local day, counting the shares the caller says
  are already planned for it (other campaigns: a campaign has one share per account);
- the network's per-app budget, per period, counting what the caller says is already used;
- at least `min_gap` after and before every other share of this campaign on that network.
A share moved this way takes the first time that keeps them all, so the search is exact: a
share is skipped only when no such time is left. Shares moved into the same stretch (the next
local day, the next budget period) queue there at the gap, which still holds. Where both the
gap and a budget bind, a period takes the fewer of its slots and its budget left.
A share with no such time is `Skipped` with the reason: the window is the CMS's promise (an
event, an embargo), so it is never stretched. `capacity` says up front how many fit.

The intended call, streaming the audience from PostgreSQL in a stable order (the order breaks
ties between shares wanting the same slot, so a stable order makes a replan give the same
times):

    planner = Planner(window=Window(campaign.starts_at, campaign.ends_at), seed=campaign.id.int,
                      daily_cap=settings.daily_cap, rules={Network.X: NetworkRules(
                          min_gap=timedelta(seconds=30),
                          budget=AppBudget(limit=..., period=timedelta(hours=24),
                                           origin=x_reset_at, used={...date_bin counts...}))})
    async with connection.transaction():
        async for batch in batches(connection.cursor(AUDIENCE_ORDER_BY_ACCOUNT_ID), 10_000):
            results = list(planner.place_all(
                ShareRequest(r["account_id"], Network(r["network"]), r["timezone"],
                             QuietHours(r["quiet_start"], r["quiet_end"]),
                             r["planned_by_day"])  # {local date: shares}, aggregated in SQL
                for r in batch))
            await connection.copy_records_to_table(...)  # planned_at, or skipped + reason

A window that started in the past is the caller's to clip (`Window(max(start, now), end)`).
Memory is the planner's grids (one byte per slot of the window per network, at most
`MAX_SLOTS`), the open hours per distinct (time zone, quiet hours) and the budget counts per
period: the same at a hundred shares as at a million. A window without an end ("now") runs
`NOW_HORIZON` (a full waking day for everyone, whatever their time zone).
"""

from __future__ import annotations

import uuid
import zlib
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chorus.common.kinds import Network
from chorus.common.shares.open_hours import (
    DEFAULT_QUIET_HOURS,
    NO_QUIET_HOURS,
    QuietHours,
    open_pieces,
)
from chorus.common.shares.slot_grid import MAX_SLOTS, Blocked, Budget, Runs, SlotGrid

__all__ = [
    "DEFAULT_DAILY_CAP",
    "DEFAULT_QUIET_HOURS",
    "MAX_SLOTS",
    "NOTHING_PLANNED",
    "NOW_HORIZON",
    "NO_QUIET_HOURS",
    "AppBudget",
    "NetworkRules",
    "Planned",
    "Planner",
    "QuietHours",
    "ShareRequest",
    "Skipped",
    "Window",
    "capacity",
    "plan",
]

NOW_HORIZON = timedelta(hours=24)
DEFAULT_DAILY_CAP = 3
NOTHING_PLANNED: Mapping[date, int] = MappingProxyType({})
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MASK = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Window:
    """When the campaign may go out; no `end` means "now": `start` plus a horizon."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("a window's times must carry their time zone")
        if self.end is not None and self.end <= self.start:
            raise ValueError("a window must end after it starts")

    def bounds(self, horizon: timedelta = NOW_HORIZON) -> tuple[datetime, datetime]:
        """[start, end) in UTC."""
        start = self.start.astimezone(UTC)
        return start, start + horizon if self.end is None else self.end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class AppBudget:
    """Chorus's app on a network may post `limit` times per `period`, periods counted from
    `origin` (a network's reported reset time, or UTC midnight). `used`: shares already
    planned in each period, by the period's start (SQL: `date_bin(period, planned_at,
    origin)`). Give a `limit` with room for retries: the planner fills it."""

    limit: int
    period: timedelta
    origin: datetime = EPOCH
    used: Mapping[datetime, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 0 or self.period <= timedelta(0) or self.origin.tzinfo is None:
            raise ValueError("a budget needs a limit >= 0, a period > 0 and an aware origin")


@dataclass(frozen=True, slots=True)
class NetworkRules:
    """One network's spacing for this campaign. Shares are `min_gap` to `min_gap + 2 *
    jitter` apart where the window is crowded; `jitter` defaults to half the gap."""

    min_gap: timedelta = timedelta(0)
    jitter: timedelta | None = None
    budget: AppBudget | None = None

    def __post_init__(self) -> None:
        if self.min_gap < timedelta(0) or (self.jitter is not None and self.jitter < timedelta(0)):
            raise ValueError("a gap and a jitter cannot be negative")


# Tuples, not dataclasses: a million of each are built per campaign, and a tuple is built in
# a third of the time.
class ShareRequest(NamedTuple):
    account_id: uuid.UUID
    network: Network
    time_zone: str = "UTC"
    quiet: QuietHours = DEFAULT_QUIET_HOURS
    # The account's shares already planned, per local date of the colleague (other campaigns).
    planned_by_day: Mapping[date, int] = NOTHING_PLANNED


class Planned(NamedTuple):
    request: ShareRequest
    at: datetime


class Skipped(NamedTuple):
    request: ShareRequest
    reason: str


class _Lane:
    """One network: its grid, its salt, and each (time zone, quiet hours)'s open slots."""

    __slots__ = ("closed", "grid", "network", "open", "salt")

    def __init__(self, network: Network, grid: SlotGrid, salt: int) -> None:
        self.network = network
        self.grid = grid
        self.salt = salt
        self.open: dict[tuple[str, QuietHours], Runs] = {}
        # Why no share of a (time zone, quiet hours) can be planned: its hours are all quiet,
        # or already full at the gap (taken slots stay taken).
        self.closed: dict[tuple[str, QuietHours], str] = {}


class Planner:
    """One campaign's spreading, one share at a time (`place`) or streamed (`place_all`)."""

    def __init__(
        self,
        *,
        window: Window,
        seed: int,
        daily_cap: int = DEFAULT_DAILY_CAP,
        rules: Mapping[Network, NetworkRules] = MappingProxyType({}),
        horizon: timedelta = NOW_HORIZON,
    ) -> None:
        self.start, self.end = window.bounds(horizon)
        self.daily_cap = daily_cap
        self.rules = rules
        self._seed = _mix((seed ^ (seed >> 64)) & _MASK)
        self._lanes: dict[Network, _Lane] = {}

    def place_all(self, requests: Iterable[ShareRequest]) -> Iterator[Planned | Skipped]:
        """Lazily: each result is yielded before the next request is read."""
        place = self.place
        for request in requests:
            yield place(request)

    def place(self, request: ShareRequest) -> Planned | Skipped:
        # Unpacked at once: a named tuple's fields are slow to read one at a time.
        account_id, network, time_zone, quiet, counts = request
        lane = self._lanes.get(network) or self._lane(network)
        profile = (time_zone, quiet)
        runs = lane.open.get(profile) or self._open(lane, profile)
        if runs is None:
            return Skipped(request, lane.closed[profile])
        lo, _, _, before, total = runs
        account = account_id.int
        # splitmix64's finaliser, inlined (the hot path): 64 well-mixed bits from the account
        # and the lane's salt. The high half draws the slot among the colleague's open ones,
        # the low half the jitter.
        drawn = (account ^ (account >> 64) ^ lane.salt) & _MASK
        drawn = ((drawn ^ (drawn >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        drawn = ((drawn ^ (drawn >> 27)) * 0x94D049BB133111EB) & _MASK
        drawn ^= drawn >> 31
        wanted = ((drawn >> 32) * total) >> 32
        run = bisect_right(before, wanted) - 1
        slot = lo[run] + wanted - before[run]
        grid = lane.grid
        jitter = ((drawn & 0xFFFFFFFF) * grid.jitter_span) >> 32
        taken = grid.taken
        if counts or grid.budget is not None or (taken is not None and taken[slot]):
            found = self._search(grid, runs, run, slot, jitter, counts, _IGNORED)
            if found < 0:
                blocked = Blocked()
                self._search(grid, runs, run, slot, jitter, counts, blocked)
                return Skipped(request, self._why(lane, profile, blocked))
            slot = found
        at_us = slot * grid.length + jitter
        if taken is not None:
            taken[slot] = 1
        if grid.budget is not None:
            grid.spend(at_us)
        return Planned(request, self.start + _US * at_us)

    def state_size(self) -> int:
        """Entries the planner holds (grid slots, budget periods, open runs): bounded by the
        window, the gap and the distinct time zones, not by the shares planned."""
        return sum(
            lane.grid.size() + sum(len(runs.lo) for runs in lane.open.values()) + len(lane.closed)
            for lane in self._lanes.values()
        )

    def _search(
        self,
        grid: SlotGrid,
        runs: Runs,
        run: int,
        slot: int,
        jitter: int,
        counts: Mapping[date, int],
        blocked: Blocked,
    ) -> int:
        """From the drawn slot to the window's end, then from its start up to the drawn slot."""
        cap = self.daily_cap
        found = grid.search(runs, run, slot, _NO_STOP, jitter, counts, cap, blocked)
        if found < 0:
            found = grid.search(runs, 0, 0, slot, jitter, counts, cap, blocked)
        return found

    def _lane(self, network: Network) -> _Lane:
        # crc32, not hash(): str hashes change with every process, and a replan must not.
        salt = _mix(self._seed ^ zlib.crc32(network.value.encode()))
        lane = _Lane(network, _grid(self.start, self.end, self.rules.get(network)), salt)
        self._lanes[network] = lane
        return lane

    def _open(self, lane: _Lane, profile: tuple[str, QuietHours]) -> Runs | None:
        """A (time zone, quiet hours)'s open slots, the first time it is seen."""
        if profile in lane.closed:
            return None
        time_zone, quiet = profile
        try:
            runs = lane.grid.runs(_pieces(ZoneInfo(time_zone), quiet, self.start, self.end))
        except (ZoneInfoNotFoundError, ValueError):
            lane.closed[profile] = f"unknown time zone {time_zone!r}"
            return None
        if not runs.total:
            lane.closed[profile] = f"quiet hours in {time_zone} cover the whole window"
            return None
        lane.open[profile] = runs
        return runs

    def _why(self, lane: _Lane, profile: tuple[str, QuietHours], blocked: Blocked) -> str:
        reasons = []
        if blocked.capped:
            reasons.append(f"the account's daily cap of {self.daily_cap} shares")
        if blocked.budget:
            reasons.append(f"the app budget on {lane.network}")
        if blocked.gap:
            gap = (self.rules.get(lane.network) or NetworkRules()).min_gap
            reasons.append(f"the minimum gap of {gap} between the campaign's shares")
        why = "no time left in the window under " + (" and ".join(reasons) or "its rules")
        # Taken slots stay taken, so a window full at the gap is full for every later share
        # of this time zone; a cap is the account's own, and a budget period's edge depends
        # on the share's jitter.
        if not blocked.capped and not blocked.budget:
            del lane.open[profile]
            lane.closed[profile] = why
        return why


# Where nobody reads why (the search found a slot, or will be run again to say why not).
_IGNORED = Blocked()
_NO_STOP = 1 << 62


def plan(
    requests: Iterable[ShareRequest],
    *,
    window: Window,
    seed: int,
    daily_cap: int = DEFAULT_DAILY_CAP,
    rules: Mapping[Network, NetworkRules] = MappingProxyType({}),
) -> Iterator[Planned | Skipped]:
    """Each request's planned time or why it has none, in order, lazily."""
    planner = Planner(window=window, seed=seed, daily_cap=daily_cap, rules=rules)
    return planner.place_all(requests)


def capacity(
    *,
    window: Window,
    rules: NetworkRules | None = None,
    open_for: Iterable[tuple[str, QuietHours]] = (),
    horizon: timedelta = NOW_HORIZON,
) -> int | None:
    """How many of a campaign's shares one network takes in `window`, for the CMS to hear
    when it creates the campaign: the slots at the gap open for at least one (time zone,
    quiet hours) of `open_for` (every slot if none), within the app budget (to within one
    share per budget period). None: no limit (no gap and no budget), if any hour is open.

    An upper bound: colleagues of one time zone compete for that zone's hours, so an audience
    crowded into one zone may fit fewer, and accounts at their daily cap move or drop out."""
    start, end = window.bounds(horizon)
    grid = _grid(start, end, rules)
    spans: list[tuple[int, int]] = []
    for time_zone, quiet in set(open_for) or {("UTC", NO_QUIET_HOURS)}:
        runs = grid.runs(_pieces(ZoneInfo(time_zone), quiet, start, end))
        spans.extend(zip(runs.lo, runs.hi, strict=True))
    if not spans:
        return 0
    return grid.fitting(_union(spans))


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _pieces(
    zone: ZoneInfo, quiet: QuietHours, start: datetime, end: datetime
) -> list[tuple[int, int, date]]:
    return [
        ((p.start - start) // _US, (p.end - start) // _US, p.day)
        for p in open_pieces(zone, quiet, start, end)
    ]


def _grid(start: datetime, end: datetime, rules: NetworkRules | None) -> SlotGrid:
    rules = rules or NetworkRules()
    jitter = rules.min_gap / 2 if rules.jitter is None else rules.jitter
    budget = None
    if (app := rules.budget) is not None:
        used = {(at - app.origin) // app.period: n for at, n in app.used.items()}
        budget = Budget(app.limit, app.period // _US, (start - app.origin) // _US, used)
    return SlotGrid(
        span_us=(end - start) // _US,
        gap_us=rules.min_gap // _US,
        jitter_us=jitter // _US,
        budget=budget,
    )


def _mix(x: int) -> int:
    """splitmix64's finaliser (as inlined in `Planner.place`)."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)
