"""Spreading a campaign's shares: inside the window, out of each colleague's quiet hours on their
own clock (daylight-saving days included), under the account's daily cap and the app's budget,
a minimum gap apart per network, the same for a seed, streamed with bounded state, and a clear
reason for whatever does not fit."""

from __future__ import annotations

import random
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chorus.common.kinds import Network
from chorus.common.shares.open_hours import local_instant, open_pieces
from chorus.common.shares.spreading import (
    DEFAULT_QUIET_HOURS,
    NO_QUIET_HOURS,
    AppBudget,
    NetworkRules,
    Planned,
    Planner,
    QuietHours,
    ShareRequest,
    Skipped,
    Window,
    capacity,
    plan,
)

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)
WEEK = Window(MONDAY, MONDAY + timedelta(days=7))
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata", "Australia/Lord_Howe")
LUNCH = QuietHours(time(12), time(14))


def _accounts(n: int, seed: int = 0) -> Iterator[uuid.UUID]:
    rng = random.Random(seed)
    for _ in range(n):
        yield uuid.UUID(int=rng.getrandbits(128))


def _requests(
    n: int,
    *,
    network: Network = Network.LINKEDIN,
    zones: Sequence[str] = ("Europe/Berlin",),
    quiet: QuietHours = DEFAULT_QUIET_HOURS,
    seed: int = 0,
) -> Iterator[ShareRequest]:
    for i, account in enumerate(_accounts(n, seed)):
        yield ShareRequest(account, network, zones[i % len(zones)], quiet)


def _times(results: Iterable[Planned | Skipped]) -> list[datetime]:
    return [r.at for r in results if isinstance(r, Planned)]


def _quiet(at: datetime, time_zone: str, quiet: QuietHours) -> bool:
    """What the colleague's own clock says, checked independently of the planner."""
    wall = at.astimezone(ZoneInfo(time_zone)).time()
    if quiet.start > quiet.end:
        return wall >= quiet.start or wall < quiet.end
    return quiet.start <= wall < quiet.end


def _gaps(times: Iterable[datetime]) -> list[timedelta]:
    ordered = sorted(times)
    return [b - a for a, b in pairwise(ordered)]


# Within the window


def test_every_share_falls_inside_its_window() -> None:
    results = list(plan(_requests(2000, zones=ZONES), window=WEEK, seed=7))
    times = _times(results)
    assert len(times) == 2000
    assert all(MONDAY <= t < MONDAY + timedelta(days=7) for t in times)
    # Spread over the whole week, not bunched at its start.
    assert Counter(t.date() for t in times).most_common()[-1][1] > 150


def test_a_window_without_an_end_runs_a_day() -> None:
    times = _times(plan(_requests(500, zones=ZONES), window=Window(MONDAY), seed=1))
    assert len(times) == 500
    assert all(MONDAY <= t < MONDAY + timedelta(hours=24) for t in times)
    assert max(times) - min(times) > timedelta(hours=20)


def test_a_window_must_be_aware_and_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Window(datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="after it starts"):
        Window(MONDAY, MONDAY)


# Quiet hours, in each colleague's own time zone


@pytest.mark.parametrize("time_zone", ZONES)
@pytest.mark.parametrize("quiet", [DEFAULT_QUIET_HOURS, LUNCH], ids=["22-07", "12-14"])
def test_no_share_falls_in_its_colleagues_quiet_hours(time_zone: str, quiet: QuietHours) -> None:
    times = _times(plan(_requests(1000, zones=[time_zone], quiet=quiet), window=WEEK, seed=3))
    assert len(times) == 1000
    assert not [t for t in times if _quiet(t, time_zone, quiet)]
    # The open hours are used, edges included: the first and last hours of the day see shares.
    hours = {t.astimezone(ZoneInfo(time_zone)).hour for t in times}
    assert hours == set(range(24)) - {h for h in range(24) if _quiet_hour(h, quiet)}


def _quiet_hour(hour: int, quiet: QuietHours) -> bool:
    return _quiet(datetime(2026, 3, 2, hour, 30, tzinfo=UTC), "UTC", quiet)


def test_without_quiet_hours_the_whole_day_is_open() -> None:
    times = _times(plan(_requests(2000, quiet=NO_QUIET_HOURS), window=WEEK, seed=3))
    hours = {t.astimezone(ZoneInfo("Europe/Berlin")).hour for t in times}
    assert hours == set(range(24))


def test_half_hour_time_zones_keep_their_half_hours() -> None:
    """Kolkata is UTC+05:30: its 07:00 is 01:30 UTC, and nothing is planned before it."""
    times = _times(plan(_requests(3000, zones=["Asia/Kolkata"]), window=WEEK, seed=5))
    utc_minutes = {t.hour * 60 + t.minute for t in times}
    assert 90 <= min(utc_minutes) < 100  # from 01:30 UTC: 07:00 in Kolkata
    assert 16 * 60 + 20 <= max(utc_minutes) < 16 * 60 + 30  # until 16:30 UTC: 22:00


# Daylight saving: wall-clock quiet hours on days of 23 and 25 hours


DST_DAYS = [
    ("Europe/Berlin", date(2026, 3, 29), 23),
    ("Europe/Berlin", date(2026, 10, 25), 25),
    ("America/New_York", date(2026, 3, 8), 23),
    ("America/New_York", date(2026, 11, 1), 25),
    ("Australia/Lord_Howe", date(2026, 4, 5), 24.5),
    ("Australia/Lord_Howe", date(2026, 10, 4), 23.5),
]


@pytest.mark.parametrize(("time_zone", "day", "hours"), DST_DAYS)
def test_open_hours_keep_the_wall_clock_on_a_daylight_saving_day(
    time_zone: str, day: date, hours: float
) -> None:
    zone = ZoneInfo(time_zone)
    start = local_instant(zone, day, time(0), first=True)
    end = local_instant(zone, day + timedelta(days=1), time(0), first=True)
    assert end - start == timedelta(hours=hours)  # the day really is that long
    (piece,) = open_pieces(zone, DEFAULT_QUIET_HOURS, start, end)
    assert piece.day == day
    assert piece.start.astimezone(zone).time() == time(7)
    assert piece.end.astimezone(zone).time() == time(22)
    assert piece.end - piece.start == timedelta(hours=15)


@pytest.mark.parametrize(("time_zone", "day", "hours"), DST_DAYS)
def test_shares_across_a_daylight_saving_change_stay_out_of_quiet_hours(
    time_zone: str, day: date, hours: float
) -> None:
    zone = ZoneInfo(time_zone)
    start = local_instant(zone, day - timedelta(days=1), time(12), first=True)
    window = Window(start, start + timedelta(days=2))
    results = list(
        plan(
            _requests(3000, zones=[time_zone]),
            window=window,
            seed=11,
            rules={Network.LINKEDIN: NetworkRules(min_gap=timedelta(seconds=10))},
        )
    )
    times = _times(results)
    assert len(times) == 3000
    assert not [t for t in times if _quiet(t, time_zone, DEFAULT_QUIET_HOURS)]
    on_the_day = [t for t in times if t.astimezone(zone).date() == day]
    walls = sorted(t.astimezone(zone).time() for t in on_the_day)
    assert walls[0] < time(7, 5) and walls[-1] > time(21, 55)
    assert min(_gaps(times)) >= timedelta(seconds=10)


def test_a_quiet_boundary_the_clocks_skip_falls_at_the_jump() -> None:
    """Berlin, 2026-03-29: 02:00 becomes 03:00. Quiet until 02:30 ends at the jump, 01:00 UTC."""
    berlin = ZoneInfo("Europe/Berlin")
    night_owl = QuietHours(time(23), time(2, 30))
    day = datetime(2026, 3, 28, 12, tzinfo=UTC)
    pieces = open_pieces(berlin, night_owl, day, day + timedelta(days=1))
    assert pieces[-1].start == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert pieces[-1].start.astimezone(berlin).time() == time(3)
    new_york = ZoneInfo("America/New_York")
    assert local_instant(new_york, date(2026, 3, 8), time(2, 30), first=True) == datetime(
        2026, 3, 8, 7, tzinfo=UTC
    )


def test_a_quiet_boundary_the_clocks_show_twice_is_taken_on_the_quiet_side() -> None:
    """Berlin, 2026-10-25: 02:30 happens at 00:30 and at 01:30 UTC. Quiet hours ending then end
    at the second; quiet hours starting then start at the first."""
    berlin = ZoneInfo("Europe/Berlin")
    day = datetime(2026, 10, 24, 22, tzinfo=UTC)  # local midnight
    ends = open_pieces(berlin, QuietHours(time(23), time(2, 30)), day, day + timedelta(hours=25))
    assert ends[0].start == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    starts = open_pieces(berlin, QuietHours(time(2, 30), time(6)), day, day + timedelta(hours=25))
    assert starts[0].end == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    assert local_instant(new_york, date(2026, 11, 1), time(1, 30), first=False) == datetime(
        2026, 11, 1, 6, 30, tzinfo=UTC
    )


# The account's daily cap, on the colleague's local days


def _first_day_of(planner: Planner, request: ShareRequest, zone: ZoneInfo) -> date:
    result = planner.place(request)
    assert isinstance(result, Planned)
    return result.at.astimezone(zone).date()


def test_a_full_local_day_pushes_the_share_to_the_next_ones_first_hour() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    window = Window(datetime(2026, 3, 1, 15, tzinfo=UTC), datetime(2026, 3, 6, 15, tzinfo=UTC))
    moved = 0
    for account in _accounts(20):
        request = ShareRequest(account, Network.X, "Asia/Tokyo")
        day = _first_day_of(Planner(window=window, seed=1), request, tokyo)
        if day == date(2026, 3, 6):
            continue  # the window's last Tokyo day: nothing after it (see the wrap test)
        full = request._replace(planned_by_day={day: 3})
        result = Planner(window=window, seed=1, daily_cap=3).place(full)
        assert isinstance(result, Planned)
        local = result.at.astimezone(tokyo)
        assert local.date() == day + timedelta(days=1)
        assert time(7) <= local.time() < time(7, 0, 1)  # the first open second of that day
        moved += 1
    assert moved >= 10


def test_a_full_last_day_wraps_to_the_first_day_with_room() -> None:
    window = Window(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 4, tzinfo=UTC))
    utc = ZoneInfo("UTC")
    last = [
        request
        for request in (ShareRequest(a, Network.X, "UTC") for a in _accounts(20))
        if _first_day_of(Planner(window=window, seed=2), request, utc) == date(2026, 3, 3)
    ]
    assert last
    for request in last:
        full = request._replace(planned_by_day={date(2026, 3, 3): 1})
        result = Planner(window=window, seed=2, daily_cap=1).place(full)
        assert isinstance(result, Planned)
        assert (
            datetime(2026, 3, 2, 7)
            <= result.at.replace(tzinfo=None)
            < datetime(2026, 3, 2, 7, 0, 1)
        )


def test_an_account_full_on_every_day_is_skipped_with_the_reason() -> None:
    full = {WEEK.start.date() + timedelta(days=d): 2 for d in range(-1, 8)}
    request = ShareRequest(uuid.UUID(int=9), Network.MASTODON, "Europe/Berlin", planned_by_day=full)
    result = Planner(window=WEEK, seed=1, daily_cap=2).place(request)
    assert isinstance(result, Skipped) and "daily cap of 2" in result.reason
    # A cap is the account's own: the next share of that time zone still finds its time.
    planner = Planner(window=WEEK, seed=1, daily_cap=2)
    assert isinstance(planner.place(request), Skipped)
    assert isinstance(planner.place(request._replace(planned_by_day={})), Planned)


# The minimum gap between one campaign's shares on one network


def test_one_networks_shares_are_at_least_the_gap_apart_and_jittered() -> None:
    gap = timedelta(minutes=2)
    rules = {n: NetworkRules(min_gap=gap) for n in (Network.LINKEDIN, Network.X)}
    requests = [
        *_requests(400, network=Network.LINKEDIN, zones=ZONES, seed=1),
        *_requests(400, network=Network.X, zones=ZONES, seed=2),
    ]
    window = Window(MONDAY, MONDAY + timedelta(days=2))
    results = list(plan(requests, window=window, seed=4, rules=rules))
    by_network: dict[Network, list[datetime]] = {}
    for r in results:
        assert isinstance(r, Planned)
        by_network.setdefault(r.request.network, []).append(r.at)
    for times in by_network.values():
        assert min(_gaps(times)) >= gap
        assert len({t.second for t in times}) > 50  # not on a grid
    # The gap is per network: a colleague's LinkedIn share may come close to someone's X share.
    assert min(_gaps(by_network[Network.LINKEDIN] + by_network[Network.X])) < gap


def test_a_crowded_window_packs_shares_between_one_and_two_gaps_apart() -> None:
    gap = timedelta(seconds=60)
    window = Window(MONDAY, MONDAY + timedelta(hours=2))
    rules = NetworkRules(min_gap=gap)
    room = capacity(window=window, rules=rules)
    assert room == 80  # two hours of 90-second slots: the gap and half a gap of jitter
    times = _times(
        plan(
            _requests(room, quiet=NO_QUIET_HOURS),
            window=window,
            seed=8,
            rules={Network.LINKEDIN: rules},
        )
    )
    assert len(times) == room
    gaps = _gaps(times)
    assert min(gaps) >= gap and max(gaps) <= 2 * gap
    assert len(set(gaps)) > room // 2


# The network's per-app budget


def test_the_app_budget_caps_each_period_counting_what_is_already_used() -> None:
    reset = datetime(2026, 3, 2, 0, 17, tzinfo=UTC)  # periods follow the network's reset
    budget = AppBudget(limit=10, period=timedelta(hours=1), origin=reset, used={reset: 7})
    rules = {Network.X: NetworkRules(min_gap=timedelta(seconds=30), budget=budget)}
    window = Window(MONDAY, MONDAY + timedelta(hours=6))
    results = list(
        plan(
            _requests(100, network=Network.X, quiet=NO_QUIET_HOURS),
            window=window,
            seed=3,
            rules=rules,
        )
    )
    hour = timedelta(hours=1)
    per_period = Counter((r.at - reset) // hour for r in results if isinstance(r, Planned))
    # 00:00-00:17 (the period before), 00:17-01:17 (7 of 10 used), four full periods, and
    # 05:17-06:00: every period filled to its budget, none beyond.
    assert per_period == {-1: 10, 0: 3, 1: 10, 2: 10, 3: 10, 4: 10, 5: 10}
    skipped = [r for r in results if isinstance(r, Skipped)]
    assert len(skipped) == 100 - 63
    assert all(r.reason.endswith("under the app budget on x") for r in skipped)
    assert capacity(window=window, rules=rules[Network.X]) == 63


# Determinism


def test_the_same_seed_gives_the_same_times_and_another_seed_others() -> None:
    rules = {Network.BLUESKY: NetworkRules(min_gap=timedelta(seconds=20))}

    def run(seed: int) -> list[datetime]:
        requests = _requests(1000, network=Network.BLUESKY, zones=ZONES)
        return _times(plan(requests, window=WEEK, seed=seed, rules=rules))

    assert run(42) == run(42)
    other = run(43)
    assert sum(a != b for a, b in zip(run(42), other, strict=True)) > 990


def test_one_colleague_is_not_posted_on_every_network_at_once() -> None:
    account = uuid.UUID(int=123456789)
    planner = Planner(window=WEEK, seed=5)
    results = [
        planner.place(ShareRequest(account, network, "Europe/Berlin")) for network in Network
    ]
    assert len({r.at for r in results if isinstance(r, Planned)}) == len(Network)


# Streaming


def test_a_stream_is_planned_lazily_with_state_that_does_not_grow() -> None:
    read = 0

    def stream() -> Iterator[ShareRequest]:
        nonlocal read
        for request in _requests(100_000, network=Network.MASTODON, zones=ZONES):
            read += 1
            yield request

    window = Window(MONDAY, MONDAY + timedelta(days=14))
    planner = Planner(
        window=window,
        seed=1,
        rules={n: NetworkRules(min_gap=timedelta(seconds=2)) for n in Network},
    )
    results = planner.place_all(stream())
    first = list(islice(results, 10))
    assert read == 10 and len(first) == 10  # nothing read ahead
    for _ in islice(results, 9_990):
        pass
    early = planner.state_size()
    tracemalloc.start()  # slow: over a stretch of the stream only
    for _ in islice(results, 2_000):
        pass
    before = tracemalloc.get_traced_memory()[0]
    for _ in islice(results, 10_000):
        pass
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    planned = sum(isinstance(r, Planned) for r in results)
    assert read == 100_000 and planned == 78_000
    assert planner.state_size() == early  # the same at 10,000 shares as at 100,000
    assert after - before < 16 * 1024  # nothing kept per share


# What does not fit


def test_what_the_gap_leaves_no_room_for_is_skipped_and_capacity_said_so() -> None:
    window = Window(MONDAY, MONDAY + timedelta(hours=1))
    rules = NetworkRules(min_gap=timedelta(seconds=60), jitter=timedelta(seconds=15))
    room = capacity(window=window, rules=rules, open_for=[("Europe/Berlin", NO_QUIET_HOURS)])
    assert room == 48
    results = list(
        plan(
            _requests(100, quiet=NO_QUIET_HOURS),
            window=window,
            seed=1,
            rules={Network.LINKEDIN: rules},
        )
    )
    skipped = [r for r in results if isinstance(r, Skipped)]
    assert len(results) - len(skipped) == room
    assert all("minimum gap of 0:01:00" in r.reason for r in skipped)


def test_a_window_all_in_quiet_hours_plans_nothing_and_says_why() -> None:
    night_in_tokyo = Window(
        datetime(2026, 3, 2, 15, tzinfo=UTC), datetime(2026, 3, 2, 20, tzinfo=UTC)
    )
    assert capacity(window=night_in_tokyo, open_for=[("Asia/Tokyo", DEFAULT_QUIET_HOURS)]) == 0
    results = list(
        plan(_requests(3, zones=["Asia/Tokyo", "Mars/Olympus"]), window=night_in_tokyo, seed=1)
    )
    reasons = [r.reason for r in results if isinstance(r, Skipped)]
    assert reasons == [
        "quiet hours in Asia/Tokyo cover the whole window",
        "unknown time zone 'Mars/Olympus'",
        "quiet hours in Asia/Tokyo cover the whole window",
    ]


def test_without_a_gap_only_the_budget_limits_capacity() -> None:
    day = Window(MONDAY, MONDAY + timedelta(days=1))
    assert capacity(window=day) is None
    budget = AppBudget(limit=500, period=timedelta(hours=6), used={MONDAY: 200})
    assert capacity(window=day, rules=NetworkRules(budget=budget)) == 300 + 3 * 500
    night_in_tokyo = Window(
        datetime(2026, 3, 2, 15, tzinfo=UTC), datetime(2026, 3, 2, 20, tzinfo=UTC)
    )
    assert capacity(window=night_in_tokyo, open_for=[("Asia/Tokyo", DEFAULT_QUIET_HOURS)]) == 0


def test_capacity_counts_the_hours_open_to_someone_in_the_audience() -> None:
    day = Window(MONDAY, MONDAY + timedelta(days=1))
    rules = NetworkRules(min_gap=timedelta(minutes=1), jitter=timedelta(0))
    assert capacity(window=day, rules=rules) == 24 * 60
    assert (
        capacity(window=day, rules=rules, open_for=[("Europe/Berlin", DEFAULT_QUIET_HOURS)])
        == 15 * 60
    )
    both = [("Europe/Berlin", DEFAULT_QUIET_HOURS), ("Asia/Tokyo", DEFAULT_QUIET_HOURS)]
    # Berlin is open 06:00-21:00 UTC, Tokyo 22:00-13:00 UTC: together all but 21:00-22:00.
    assert capacity(window=day, rules=rules, open_for=both) == (24 - 1) * 60


# Properties over random campaigns


@settings(max_examples=150, deadline=None, database=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
    ),
    hours=st.integers(min_value=1, max_value=24 * 10),
    time_zone=st.sampled_from([*ZONES, "UTC", "America/St_Johns", "Pacific/Chatham"]),
    quiet_from=st.integers(min_value=0, max_value=47),
    quiet_to=st.integers(min_value=0, max_value=47),
    gap_seconds=st.integers(min_value=0, max_value=3600),
    cap=st.integers(min_value=1, max_value=3),
    budget=st.integers(min_value=0, max_value=20),
    seed=st.integers(min_value=0, max_value=2**64),
)
def test_every_planned_share_keeps_every_rule(
    start: datetime,
    hours: int,
    time_zone: str,
    quiet_from: int,
    quiet_to: int,
    gap_seconds: int,
    cap: int,
    budget: int,
    seed: int,
) -> None:
    quiet = QuietHours(
        time(quiet_from // 2, 30 * (quiet_from % 2)), time(quiet_to // 2, 30 * (quiet_to % 2))
    )
    zone = ZoneInfo(time_zone)
    window = Window(start, start + timedelta(hours=hours))
    gap = timedelta(seconds=gap_seconds)
    rng = random.Random(seed)
    first_day = start.astimezone(zone).date()
    requests = [
        ShareRequest(
            account,
            rng.choice([Network.X, Network.LINKEDIN]),
            time_zone,
            quiet,
            {first_day + timedelta(days=d): rng.randint(0, cap) for d in range(rng.randint(0, 3))},
        )
        for account in _accounts(60, seed)
    ]
    hourly = AppBudget(limit=budget, period=timedelta(hours=1), origin=start)
    rules = {
        Network.LINKEDIN: NetworkRules(min_gap=gap),
        Network.X: NetworkRules(min_gap=gap, budget=hourly),
    }
    results = list(plan(requests, window=window, seed=seed, daily_cap=cap, rules=rules))
    assert [r.request for r in results] == requests
    for network in (Network.X, Network.LINKEDIN):
        times = [r.at for r in results if isinstance(r, Planned) and r.request.network is network]
        assert min(_gaps(times), default=gap) >= gap
    x_hours = Counter(
        (r.at - start) // timedelta(hours=1)
        for r in results
        if isinstance(r, Planned) and r.request.network is Network.X
    )
    assert max(x_hours.values(), default=0) <= budget
    for r in results:
        if isinstance(r, Skipped):
            continue
        assert window.start <= r.at < window.start + timedelta(hours=hours)
        assert not _quiet(r.at, time_zone, quiet)
        assert r.request.planned_by_day.get(r.at.astimezone(zone).date(), 0) < cap
