"""Node calendars: which bars a source is expected to have.

A node trades ``24/7`` (every bar, the default) or on an exchange's sessions
(a code such as ``XNYS``, looked up offline in ``exchange_calendars``).

* Intraday bars: a bar ``[t, t + interval)`` is expected when it overlaps a
  trading period — the session, minus its lunch break if it has one. For bars
  that tile the session (1m bars on XNYS) that is exactly "the bar opens
  inside the session"; for a 1h bar starting at 14:00 UTC it also counts the
  half hour of trading after the 14:30 UTC open, which a source labelling bars
  by their open time does deliver.
* Daily bars (``1d``): one bar per session, at 00:00 UTC of the session date.

Exchange schedules are read once per calendar and kept as int64 arrays; the
schedule is rebuilt (wider) only when a request falls outside it.

>>> from seamless_sdk.intervals import parse_interval
>>> calendar_for(None).expected_bars(parse_interval("1h"), 0, 3 * 3600).tolist()
[0, 3600, 7200]
"""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from pandas.errors import Pandas4Warning

from seamless_sdk.bars import epoch_seconds
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import DAY, Interval, parse_interval

ALWAYS_OPEN = "24/7"
_EPOCH = pd.Timestamp(0)
_BUILD_LOCK = threading.Lock()
# Sessions of some exchanges open on the previous UTC day (XASX, CMES), so a
# schedule must reach a little past the request on both sides.
_MARGIN_S = 7 * DAY


class Calendar(ABC):
    """The bars a node is expected to have; ``name`` is its calendar code."""

    name: str

    @abstractmethod
    def expected_bars(self, interval: Interval | str, start: int, end: int) -> np.ndarray:
        """Sorted int64 epoch seconds of the bar opens expected in ``[start, end)``."""

    def count_expected_bars(self, interval: Interval | str, start: int, end: int) -> int:
        """``len(expected_bars(...))`` without building the array (years of 1s bars)."""
        return len(self.expected_bars(interval, start, end))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class AlwaysOpenCalendar(Calendar):
    """Every bar of every day (crypto, the default)."""

    name = ALWAYS_OPEN

    def expected_bars(self, interval: Interval | str, start: int, end: int) -> np.ndarray:
        iv = parse_interval(interval)
        first = _align_up(start, iv.seconds)
        return np.arange(first, max(first, end), iv.seconds, dtype=np.int64)

    def count_expected_bars(self, interval: Interval | str, start: int, end: int) -> int:
        iv = parse_interval(interval)
        first = _align_up(start, iv.seconds)
        return max(0, _align_up(end, iv.seconds) - first) // iv.seconds


class ExchangeCalendar(Calendar):
    """The sessions of one exchange from ``exchange_calendars``."""

    def __init__(self, code: str) -> None:
        self.name = code
        self._lock = threading.Lock()
        self._first = self._last = 0  # the schedule covers [first, last) epoch seconds
        self._dates = self._opens = self._closes = np.zeros(0, dtype=np.int64)
        self._load(*_default_bounds())

    def expected_bars(self, interval: Interval | str, start: int, end: int) -> np.ndarray:
        iv = parse_interval(interval)
        if end <= start:
            return np.zeros(0, dtype=np.int64)
        if iv.seconds >= DAY:
            return self._sessions(start, end)
        lo, counts = self._runs(iv.seconds, start, end)
        total = int(counts.sum())
        offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        bars = np.repeat(lo, counts) + offsets * iv.seconds
        # A bar that spans a lunch break overlaps both periods: keep it once.
        # Periods are ordered and disjoint, so ``bars`` is already sorted.
        return _dedupe_sorted(bars)

    def count_expected_bars(self, interval: Interval | str, start: int, end: int) -> int:
        iv = parse_interval(interval)
        if end <= start:
            return 0
        if iv.seconds >= DAY:
            return len(self._sessions(start, end))
        lo, counts = self._runs(iv.seconds, start, end)
        last = lo + (counts - 1) * iv.seconds
        shared = int(np.count_nonzero(last[:-1] == lo[1:]))  # bars spanning a break
        return int(counts.sum()) - shared

    def _sessions(self, start: int, end: int) -> np.ndarray:
        dates = _dedupe_sorted(self._schedule_for(start, end)[0])
        return dates[(dates >= start) & (dates < end)]

    def _runs(self, step: int, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """Per trading period overlapping ``[start, end)``: first bar and bar count (> 0)."""
        _, opens, closes = self._schedule_for(start, end)
        # Periods are disjoint and ordered, so closes ascend as opens do.
        i = int(np.searchsorted(closes, start, side="right"))
        j = int(np.searchsorted(opens, end, side="left"))
        opens, closes = opens[i:j], closes[i:j]
        lo = np.maximum(opens - opens % step, _align_up(start, step))
        hi = np.minimum(closes, end)
        counts = (hi - lo + step - 1) // step
        keep = counts > 0
        return lo[keep], counts[keep]

    def _schedule_for(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trading periods (session date, open, close), loaded to reach ``[start, end)``."""
        with self._lock:
            if start - _MARGIN_S < self._first or end + _MARGIN_S > self._last:
                self._load(min(self._first, start - _MARGIN_S), max(self._last, end + _MARGIN_S))
            return self._dates, self._opens, self._closes

    def _load(self, first: int, last: int) -> None:
        start = pd.Timestamp(first, unit="s").normalize()
        end = pd.Timestamp(last, unit="s").normalize()
        schedule = _schedule(self.name, start, end)
        dates = epoch_seconds(schedule.index)
        opens, closes = epoch_seconds(schedule["open"]), epoch_seconds(schedule["close"])
        b_start, b_end = schedule["break_start"], schedule["break_end"]
        has_break = (b_start.notna() & b_end.notna()).to_numpy()
        if has_break.any():
            bs = epoch_seconds(b_start[has_break])
            be = epoch_seconds(b_end[has_break])
            # A session with a break is two periods: [open, break) and [break end, close).
            dates = np.concatenate((dates[~has_break], dates[has_break], dates[has_break]))
            period_closes = np.concatenate((closes[~has_break], bs, closes[has_break]))
            opens = np.concatenate((opens[~has_break], opens[has_break], be))
            order = np.argsort(opens, kind="stable")
            dates, opens, closes = dates[order], opens[order], period_closes[order]
        self._dates, self._opens, self._closes = dates, opens, closes
        self._first, self._last = int(_seconds_of(start)), int(_seconds_of(end)) + DAY


def _align_up(ts: int, step: int) -> int:
    return -(-ts // step) * step


def _dedupe_sorted(values: np.ndarray) -> np.ndarray:
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


def _schedule(code: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    # Imported here: it takes ~0.3 s and only exchange-calendar nodes need it.
    import exchange_calendars as xcals

    # catch_warnings swaps process-wide state: one build at a time.
    # exchange_calendars still uses pandas APIs that pandas 3.1 deprecates
    # (tz-aware Series.values, DatetimeIndex.weekday); the results are right
    # today, and the warnings would fail every caller running with -W error.
    with _BUILD_LOCK, warnings.catch_warnings():
        for category in (Pandas4Warning, FutureWarning, DeprecationWarning):
            warnings.simplefilter("ignore", category)
        try:
            cal = xcals.get_calendar(code, start=start, end=end)
        except (ValueError, xcals.errors.CalendarError) as exc:
            raise InvalidRequestError("calendar", f"{code}: {exc}") from None
        return cal.schedule.copy()


def _seconds_of(ts: pd.Timestamp) -> int:
    return (ts - _EPOCH) // pd.Timedelta(seconds=1)


def _default_bounds() -> tuple[int, int]:
    # exchange_calendars' own default: 20 years back, one year ahead.
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize()
    return _seconds_of(now - pd.DateOffset(years=20)), _seconds_of(now + pd.DateOffset(years=1))


_CACHE: dict[str, Calendar] = {}
_CACHE_LOCK = threading.Lock()
_ALWAYS_OPEN_NAMES = {"", ALWAYS_OPEN, "ALWAYS_OPEN"}


def calendar_for(code: str | None) -> Calendar:
    """The calendar of a node: ``None``/``"24/7"`` is always open, else an exchange code.

    Unknown codes raise ``InvalidRequestError`` with ``field == "calendar"``.
    Calendars are cached per code (aliases such as ``NYSE`` share ``XNYS``).
    """
    if code is None or (isinstance(code, str) and code.strip().upper() in _ALWAYS_OPEN_NAMES):
        return _ALWAYS_OPEN
    if not isinstance(code, str):
        raise InvalidRequestError("calendar", f"{code!r} is not a calendar code like 'XNYS'")
    name = _resolve(code.strip())
    with _CACHE_LOCK:
        calendar = _CACHE.get(name)
        if calendar is None:
            calendar = _CACHE[name] = ExchangeCalendar(name)
    return calendar


def _resolve(code: str) -> str:
    import exchange_calendars as xcals

    for candidate in (code, code.upper()):
        if candidate in xcals.get_calendar_names(include_aliases=True):
            return str(xcals.resolve_alias(candidate))
    raise InvalidRequestError(
        "calendar", f"{code!r} is not '24/7' or an exchange code known to exchange_calendars"
    )


_ALWAYS_OPEN = AlwaysOpenCalendar()
