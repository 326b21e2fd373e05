"""Bar intervals: parsing, alignment, and the calendar windows they are stored in.

Every interval string is parsed here and nowhere else. An interval is ``N``
followed by ``s``, ``m``, ``h`` or ``d`` whose length divides a UTC day (or is
one day), so bars align to the epoch and to UTC midnight alike.

Two window sizes hang off an interval:

* the **chunk** is the store's unit (one Arrow chunk, one fetch at most):
  an hour for second bars, a day for minute bars, a month for hour bars and a
  year for daily bars, so a chunk holds from 24 to 86,400 bars;
* the **partition** is Dagster's unit of backfill: a month for sub-hour bars,
  a year for hour and day bars, so 500 nodes × 5 years stay far under
  Dagster's 100,000 partitions per asset. A partition is a whole number of
  chunks.

>>> parse_interval("5m").seconds
300
>>> chunk_windows(parse_interval("1m"), 0, 2 * 86400)
[(0, 86400), (86400, 172800)]

The supported time range is defined here once: ``MIN_TIME`` to ``MAX_TIME``
epoch seconds (1677-09-22 to 2262-04-11 UTC, the whole days pandas can hold as
``datetime64[ns]``). ``check_time`` rejects anything outside it; the window
math below is plain integer arithmetic, total over every int.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from seamless_sdk.errors import InvalidRequestError

DAY = 86_400
Unit = Literal["hour", "day", "month", "year"]
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": DAY}
# [0-9], not \d: \d also matches other scripts' digits ("١m"), and int() would
# happily read them; an interval is ASCII text.
_INTERVAL_RE = re.compile(r"([0-9]{1,6})([smhd])", re.ASCII)
_CANONICAL = ((DAY, "d"), (3600, "h"), (60, "m"), (1, "s"))

# -- the supported time range ----------------------------------------------------
# Bars leave the SDK as datetime64[ns] (1677-09-21 00:12:43 to 2262-04-11
# 23:47:16). The bounds are the whole UTC days inside that span: aligned to
# every interval, and any ts in range times 1e9 fits in an int64.
MIN_TIME = -9_223_286_400
"""First supported time, epoch seconds: 1677-09-22T00:00:00Z."""
MAX_TIME = 9_223_286_400
"""Last supported time, epoch seconds: 2262-04-11T00:00:00Z (the latest ``end``)."""
TIME_RANGE = "1677-09-22T00:00:00Z to 2262-04-11T00:00:00Z"


def check_time(seconds: int, field: str, shown: str | None = None) -> int:
    """Return ``seconds`` if ``MIN_TIME <= seconds <= MAX_TIME``, else raise
    ``InvalidRequestError`` naming ``field``; ``shown`` is how the caller's
    original value appears in the message (default: ``seconds``)."""
    if MIN_TIME <= seconds <= MAX_TIME:
        return seconds
    raise InvalidRequestError(
        field,
        f"{seconds if shown is None else shown} is outside the supported time range "
        f"{TIME_RANGE} (epoch seconds {MIN_TIME} to {MAX_TIME})",
    )


@dataclass(frozen=True, slots=True)
class Interval:
    """A parsed bar interval: its canonical name (``"1m"``) and length in seconds."""

    name: str
    seconds: int

    @property
    def chunk_unit(self) -> Unit:
        """The calendar window one store chunk spans."""
        if self.seconds < 60:
            return "hour"
        if self.seconds < 3600:
            return "day"
        if self.seconds < DAY:
            return "month"
        return "year"

    @property
    def partition_unit(self) -> Unit:
        """The calendar window one Dagster partition spans."""
        return "month" if self.seconds < 3600 else "year"

    def align_down(self, ts: int) -> int:
        """The open time of the bar containing ``ts``."""
        return ts - ts % self.seconds

    def is_aligned(self, ts: int) -> bool:
        return ts % self.seconds == 0

    def now_edge(self, now: float | None = None) -> int:
        """End of the last closed bar: coverage never extends past it."""
        return self.align_down(int(time.time() if now is None else now))

    def __str__(self) -> str:
        return self.name


@lru_cache(maxsize=256)
def _parse(text: str) -> Interval:
    m = _INTERVAL_RE.fullmatch(text)
    if not m:
        raise InvalidRequestError(
            "interval", f"{text!r} is not an interval like '1s', '1m', '5m', '1h', '1d'"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0 or (seconds > DAY) or DAY % seconds:
        raise InvalidRequestError(
            "interval", f"{text!r} must be positive and divide a day (or be '1d')"
        )
    for unit_s, suffix in _CANONICAL:
        if seconds % unit_s == 0:
            return Interval(f"{seconds // unit_s}{suffix}", seconds)
    raise AssertionError("unreachable: 1 divides everything")


def _parsed_or_none(text: str) -> Interval | None:
    try:
        return _parse(text)
    except InvalidRequestError:
        return None


def parse_interval(value: str | Interval) -> Interval:
    """Parse ``"1m"``-style text (or pass a canonical Interval through); bad
    input raises ``InvalidRequestError`` with ``field == "interval"``."""
    if isinstance(value, Interval):
        # One built by hand may pair any name with any length: only what
        # parsing its name gives back is an interval.
        parsed = _parsed_or_none(value.name) if isinstance(value.name, str) else None
        if parsed is value or parsed == value:  # mostly the very object parsing gave
            return value
        raise InvalidRequestError(
            "interval", f"{value!r} is not a canonical interval (build one with parse_interval)"
        )
    if not isinstance(value, str):
        raise InvalidRequestError("interval", f"{value!r} is not a string like '1m'")
    return _parse(value)


# -- calendar windows ------------------------------------------------------------
def _year_month(ts: int) -> tuple[int, int]:
    """UTC (year, month) of epoch second ``ts``, proleptic Gregorian.

    Integer arithmetic (H. Hinnant's ``civil_from_days``) rather than
    ``datetime.fromtimestamp``: total over every int, no platform ``time_t``
    limits, and no ``datetime`` objects on the read path.
    """
    z = ts // DAY + 719_468  # days since 0000-03-01
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153  # months since March
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month


def month_start(year: int, month: int) -> int:
    """Epoch second of ``year-month-01T00:00:00Z`` (``days_from_civil``)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146_097 + doe - 719_468) * DAY


def window_floor(ts: int, unit: Unit) -> int:
    """Start of the UTC calendar window of ``unit`` that contains ``ts``.

    Inside the supported time range, windows are cut at its bounds: the month
    and year windows of 1677 start at ``MIN_TIME`` (1677-09-22), and those of
    2262 end at ``MAX_TIME``, so no window reaches a time that cannot be held
    (hour and day windows never straddle a bound: both are whole days).
    """
    if unit == "hour":
        return ts - ts % 3600
    if unit == "day":
        return ts - ts % DAY
    year, month = _year_month(ts)
    floor = month_start(year, month if unit == "month" else 1)
    return MIN_TIME if floor < MIN_TIME <= ts < MAX_TIME else floor


def window_next(ts: int, unit: Unit) -> int:
    """Start of the window after the one that contains ``ts`` (``MAX_TIME`` for
    the last window of the supported range)."""
    if unit == "hour":
        return ts - ts % 3600 + 3600
    if unit == "day":
        return ts - ts % DAY + DAY
    year, month = _year_month(ts)
    if unit == "year" or month == 12:
        nxt = month_start(year + 1, 1)
    else:
        nxt = month_start(year, month + 1)
    return MAX_TIME if MIN_TIME <= ts < MAX_TIME < nxt else nxt


def iter_windows(start: int, end: int, unit: Unit) -> Iterator[tuple[int, int]]:
    """The calendar windows of ``unit`` that ``[start, end)`` touches, clipped to
    it, one at a time (a century of hourly chunks is never held in memory)."""
    cur = start
    while cur < end:
        nxt = min(window_next(cur, unit), end)
        yield cur, nxt
        cur = nxt


def windows(start: int, end: int, unit: Unit) -> list[tuple[int, int]]:
    """The calendar windows of ``unit`` that ``[start, end)`` touches, clipped to it."""
    return list(iter_windows(start, end, unit))


def chunk_windows(interval: Interval, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at store-chunk boundaries."""
    return windows(start, end, interval.chunk_unit)


def chunk_span(interval: Interval, start: int, end: int) -> tuple[int, int]:
    """The whole store chunks ``[start, end)`` touches, as one ``[first, last_end)``
    (``start < end``): what a read fetches so the cache can answer neighbours."""
    unit = interval.chunk_unit
    return window_floor(start, unit), window_next(end - 1, unit)


def chunk_start(interval: Interval, ts: int) -> int:
    """Start of the store chunk holding the bar at ``ts``."""
    return window_floor(ts, interval.chunk_unit)


def partition_windows(interval: Interval, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at Dagster-partition boundaries."""
    return windows(start, end, interval.partition_unit)
