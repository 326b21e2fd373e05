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
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

from seamless_sdk.errors import InvalidRequestError

DAY = 86_400
Unit = Literal["hour", "day", "month", "year"]
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": DAY}
_INTERVAL_RE = re.compile(r"(\d{1,6})([smhd])")
_CANONICAL = ((DAY, "d"), (3600, "h"), (60, "m"), (1, "s"))


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


def parse_interval(value: str | Interval) -> Interval:
    """Parse ``"1m"``-style text (or pass an Interval through); bad input raises
    ``InvalidRequestError`` with ``field == "interval"``."""
    if isinstance(value, Interval):
        return value
    if not isinstance(value, str):
        raise InvalidRequestError("interval", f"{value!r} is not a string like '1m'")
    return _parse(value)


# -- calendar windows ------------------------------------------------------------
def window_floor(ts: int, unit: Unit) -> int:
    """Start of the UTC calendar window of ``unit`` that contains ``ts``."""
    if unit == "hour":
        return ts - ts % 3600
    if unit == "day":
        return ts - ts % DAY
    d = datetime.fromtimestamp(ts, UTC)
    if unit == "month":
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())
    return int(datetime(d.year, 1, 1, tzinfo=UTC).timestamp())


def window_next(ts: int, unit: Unit) -> int:
    """Start of the window after the one that contains ``ts``."""
    if unit == "hour":
        return ts - ts % 3600 + 3600
    if unit == "day":
        return ts - ts % DAY + DAY
    d = datetime.fromtimestamp(ts, UTC)
    if unit == "month":
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return int(datetime(y, m, 1, tzinfo=UTC).timestamp())
    return int(datetime(d.year + 1, 1, 1, tzinfo=UTC).timestamp())


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


def chunk_start(interval: Interval, ts: int) -> int:
    """Start of the store chunk holding the bar at ``ts``."""
    return window_floor(ts, interval.chunk_unit)


def partition_windows(interval: Interval, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut at Dagster-partition boundaries."""
    return windows(start, end, interval.partition_unit)
