"""How fast a campaign's shares are spread, in one process, no database.

    python -m bench.spreading --shares 1000000

A campaign over two weeks (across Europe's spring daylight-saving change) for colleagues in
eight time zones, on all five networks, a one-second minimum gap per network, an app budget on
X and one account in ten already busy on some day. The share requests come in batches, as a
caller reading a cursor gets them; only planning is timed. Prints `N shares/s` over the whole
campaign, the best batch's rate beside it (on a shared machine, the closest to the planner's own
speed), and the process's peak memory.
"""

from __future__ import annotations

import argparse
import random
import resource
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from itertools import islice
from time import perf_counter, process_time

from chorus.common.kinds import Network
from chorus.common.shares.spreading import (
    DEFAULT_QUIET_HOURS,
    AppBudget,
    NetworkRules,
    Planned,
    Planner,
    QuietHours,
    ShareRequest,
    Window,
)

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
QUIETS = (DEFAULT_QUIET_HOURS, QuietHours(time(23), time(6, 30)))
NETWORKS = tuple(Network)
START = datetime(2026, 3, 23, tzinfo=UTC)
WINDOW = Window(START, START + timedelta(days=14))


def requests(n: int, seed: int) -> Iterator[ShareRequest]:
    rng = random.Random(seed)
    busy = {(START + timedelta(days=d)).date(): 3 for d in range(0, 14, 3)}
    for i in range(n):
        yield ShareRequest(
            uuid.UUID(int=rng.getrandbits(128)),
            NETWORKS[i % len(NETWORKS)],
            ZONES[i % len(ZONES)],
            QUIETS[i % 3 // 2],
            busy if i % 10 == 0 else {},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rules = {network: NetworkRules(min_gap=timedelta(seconds=1)) for network in NETWORKS}
    x_budget = AppBudget(limit=25_000, period=timedelta(hours=24))
    rules[Network.X] = NetworkRules(min_gap=timedelta(seconds=1), budget=x_budget)
    planner = Planner(window=WINDOW, seed=args.seed, daily_cap=3, rules=rules)
    stream = requests(args.shares, args.seed)
    planned = 0
    wall = cpu = 0.0
    best = float("inf")
    while batch := list(islice(stream, args.batch)):
        started = perf_counter(), process_time()
        planned += sum(isinstance(result, Planned) for result in planner.place_all(batch))
        spent = perf_counter() - started[0], process_time() - started[1]
        wall, cpu = wall + spent[0], cpu + spent[1]
        best = min(best, spent[0] / len(batch))

    n = args.shares
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n} shares: {planned} planned, {n - planned} skipped")
    print(
        f"{n / wall:,.0f} shares/s ({wall / n * 1e6:.2f} us per share; CPU {cpu / n * 1e6:.2f} us)"
    )
    print(f"best batch of {args.batch}: {1 / best:,.0f} shares/s ({best * 1e6:.2f} us per share)")
    print(
        f"planner state {planner.state_size():,} entries; "
        f"peak RSS {peak_mb:.0f} MB with a batch of requests held"
    )


if __name__ == "__main__":
    main()
