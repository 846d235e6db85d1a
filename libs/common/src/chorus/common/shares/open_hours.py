"""When a colleague may be seen posting: the hours outside their quiet hours, on their own wall
clock, as UTC intervals cut at local midnight (a daily cap counts the colleague's local days).

    >>> open_pieces(ZoneInfo("Europe/Berlin"), DEFAULT_QUIET_HOURS, start, end)
    [OpenPiece(start=..07:00 local.., end=..22:00 local.., day=date(2026, 3, 29)), ...]

Quiet hours are wall-clock times, so daylight saving moves them in UTC and a day of 23 or 25
hours keeps them on the wall clock. A boundary the clocks skip that day (spring forward) falls
at the jump; one the clocks show twice (fall back) is taken on the quiet side: quiet starts at
its first occurrence and ends at its second. A colleague is never posted for at an hour their
own clock calls quiet.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_QUIET_HOURS",
    "NO_QUIET_HOURS",
    "OpenPiece",
    "QuietHours",
    "local_instant",
    "open_pieces",
]

_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time(0)


class QuietHours(NamedTuple):
    """Local wall-clock times. `start` after `end` crosses midnight (22:00 to 07:00); equal
    times mean no quiet hours at all."""

    start: time
    end: time


DEFAULT_QUIET_HOURS = QuietHours(time(22), time(7))
NO_QUIET_HOURS = QuietHours(_MIDNIGHT, _MIDNIGHT)


class OpenPiece(NamedTuple):
    """Open hours within one local day: [start, end) in UTC, and that day's local date."""

    start: datetime
    end: datetime
    day: date


def open_pieces(
    zone: ZoneInfo, quiet: QuietHours, start: datetime, end: datetime
) -> list[OpenPiece]:
    """The open hours between `start` and `end` (aware datetimes), in order."""
    pieces = []
    day = start.astimezone(zone).date() - _ONE_DAY
    last = end.astimezone(zone).date()
    while day <= last:
        for opens, closes in _open_on(zone, quiet, day):
            lo, hi = max(opens, start), min(closes, end)
            if lo < hi:
                pieces.append(OpenPiece(lo, hi, day))
        day += _ONE_DAY
    return pieces


def _open_on(zone: ZoneInfo, quiet: QuietHours, day: date) -> list[tuple[datetime, datetime]]:
    midnight = local_instant(zone, day, _MIDNIGHT, first=True)
    next_midnight = local_instant(zone, day + _ONE_DAY, _MIDNIGHT, first=True)
    if quiet.start == quiet.end:
        return [(midnight, next_midnight)]
    wakes = local_instant(zone, day, quiet.end, first=False)
    sleeps = local_instant(zone, day, quiet.start, first=True)
    if quiet.start > quiet.end:
        return [(wakes, sleeps)]
    return [(midnight, sleeps), (wakes, next_midnight)]


def local_instant(zone: ZoneInfo, day: date, wall: time, *, first: bool) -> datetime:
    """The UTC instant `zone`'s clocks show `wall` on `day`: its first or last occurrence when
    they show it twice, the moment they jump when they skip it."""
    naive = datetime.combine(day, wall)
    # PEP 495: fold=0 reads the offset in force before a transition, fold=1 the one after.
    before = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if before <= after:
        return before if first else after
    return _jump(zone, after, before)


def _jump(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The instant in (lo, hi] when `zone`'s offset changes (transitions fall on whole seconds)."""
    offset = lo.astimezone(zone).utcoffset()
    low, high = int(lo.timestamp()), int(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == offset:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, UTC)
