"""Node calendars: the bars a node is expected to have, 24/7 or per exchange session.

Exchange cases are real sessions from exchange_calendars (offline), chosen
for what usually goes wrong: DST, holidays, half days, lunch breaks,
sessions that open on the previous UTC day, and dates before the library's
default 20-year window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_sdk.calendars import (
    ALWAYS_OPEN,
    AlwaysOpenCalendar,
    ExchangeCalendar,
    calendar_for,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval


def utc(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").timestamp())


def as_text(bars: np.ndarray) -> list[str]:
    return [pd.Timestamp(int(b), unit="s").strftime("%Y-%m-%d %H:%M") for b in bars]


@pytest.mark.parametrize(
    "code", [None, "24/7", "", " 24/7 "], ids=["none", "24/7", "blank", "padded"]
)
def test_always_open_codes(code: str | None) -> None:
    """No calendar means every bar: the crypto default."""
    calendar = calendar_for(code)
    assert isinstance(calendar, AlwaysOpenCalendar) and calendar.name == ALWAYS_OPEN


def test_always_open_every_bar() -> None:
    """Every aligned bar in [start, end), whatever the interval."""
    calendar = calendar_for(None)
    bars = calendar.expected_bars(parse_interval("5m"), utc("2024-01-01"), utc("2024-01-01 00:20"))
    assert as_text(bars) == [
        "2024-01-01 00:00",
        "2024-01-01 00:05",
        "2024-01-01 00:10",
        "2024-01-01 00:15",
    ]
    assert bars.dtype == np.int64
    assert len(calendar.expected_bars("1m", utc("2024-01-01"), utc("2024-01-02"))) == 1440
    assert len(calendar.expected_bars("1m", utc("2024-01-01"), utc("2024-01-01"))) == 0


XNYS_CASES = [
    (
        "regular_day_1m",
        "1m",
        "2024-01-02",
        "2024-01-03",
        390,
        "2024-01-02 14:30",
        "2024-01-02 20:59",
    ),
    ("after_dst_1m", "1m", "2024-03-11", "2024-03-12", 390, "2024-03-11 13:30", "2024-03-11 19:59"),
    ("christmas_holiday", "1m", "2024-12-25", "2024-12-26", 0, None, None),
    (
        "christmas_eve_half_day",
        "1m",
        "2024-12-24",
        "2024-12-25",
        210,
        "2024-12-24 14:30",
        "2024-12-24 17:59",
    ),
    ("weekend", "1h", "2024-01-06", "2024-01-08", 0, None, None),
    (
        "hour_bars_overlap_open",
        "1h",
        "2024-01-02",
        "2024-01-03",
        7,
        "2024-01-02 14:00",
        "2024-01-02 20:00",
    ),
    (
        "window_inside_session",
        "1m",
        "2024-01-02 15:00",
        "2024-01-02 15:05",
        5,
        "2024-01-02 15:00",
        "2024-01-02 15:04",
    ),
    (
        "before_default_start",
        "1m",
        "1995-01-03",
        "1995-01-04",
        390,
        "1995-01-03 14:30",
        "1995-01-03 20:59",
    ),
]


@pytest.mark.parametrize(
    ("interval", "start", "end", "count", "first", "last"),
    [c[1:] for c in XNYS_CASES],
    ids=[c[0] for c in XNYS_CASES],
)
def test_xnys_expected_bars(
    interval: str, start: str, end: str, count: int, first: str | None, last: str | None
) -> None:
    """NYSE sessions in UTC: 09:30-16:00 New York moves with DST; holidays and half days."""
    bars = calendar_for("XNYS").expected_bars(interval, utc(start), utc(end))
    assert len(bars) == count
    assert (np.diff(bars) > 0).all()
    if count:
        assert as_text(bars[[0, -1]]) == [first, last]


def test_xnys_daily_bars_are_session_dates() -> None:
    """1d bars sit at 00:00 UTC of each session date: no Christmas, no New Year's Day."""
    bars = calendar_for("XNYS").expected_bars("1d", utc("2024-12-20"), utc("2025-01-06"))
    assert [t[:10] for t in as_text(bars)] == [
        "2024-12-20",
        "2024-12-23",
        "2024-12-24",
        "2024-12-26",
        "2024-12-27",
        "2024-12-30",
        "2024-12-31",
        "2025-01-02",
        "2025-01-03",
    ]


def test_lunch_break_has_no_bars() -> None:
    """Hong Kong stops 12:00-13:00 local (04:00-05:00 UTC): no bars expected there."""
    calendar = calendar_for("XHKG")
    minutes = calendar.expected_bars("1m", utc("2024-01-02"), utc("2024-01-03"))
    assert len(minutes) == 330
    lunch = (minutes >= utc("2024-01-02 04:00")) & (minutes < utc("2024-01-02 05:00"))
    assert not lunch.any()
    hours = calendar.expected_bars("1h", utc("2024-01-02"), utc("2024-01-03"))
    assert [t[-5:] for t in as_text(hours)] == [
        "01:00",
        "02:00",
        "03:00",
        "05:00",
        "06:00",
        "07:00",
    ]


def test_session_opening_on_previous_utc_day() -> None:
    """Sydney opens 23:00 UTC the day before; its 1d bar is labelled by session date."""
    calendar = calendar_for("XASX")
    days = calendar.expected_bars("1d", utc("2024-01-01"), utc("2024-01-05"))
    assert [t[:10] for t in as_text(days)] == ["2024-01-02", "2024-01-03", "2024-01-04"]
    minutes = calendar.expected_bars("1m", utc("2024-01-01 23:00"), utc("2024-01-02 00:00"))
    assert len(minutes) == 60


def test_calendars_are_cached_and_aliases_resolve() -> None:
    """One schedule per exchange: aliases and case variants share it."""
    xnys = calendar_for("XNYS")
    assert isinstance(xnys, ExchangeCalendar) and xnys.name == "XNYS"
    assert calendar_for("NYSE") is xnys
    assert calendar_for("xnys") is xnys


@pytest.mark.parametrize("code", ["NOPE", "X NYS", 42], ids=["unknown", "space", "int"])
def test_unknown_calendar_raises(code: object) -> None:
    """A typo in a node's calendar is a config error naming the field."""
    with pytest.raises(InvalidRequestError) as info:
        calendar_for(code)  # type: ignore[arg-type]
    assert info.value.field == "calendar"


def test_bar_spanning_a_lunch_break_is_expected_once() -> None:
    """A 3h bar 03:00-06:00 UTC overlaps both Hong Kong periods; it is one bar."""
    calendar = calendar_for("XHKG")
    bars = calendar.expected_bars("3h", utc("2024-01-02"), utc("2024-01-03"))
    assert [t[-5:] for t in as_text(bars)] == ["00:00", "03:00", "06:00"]
    assert calendar.count_expected_bars("3h", utc("2024-01-02"), utc("2024-01-03")) == 3


@settings(max_examples=60, deadline=None)
@given(
    code=st.sampled_from([None, "XNYS", "XHKG", "XASX", "CMES"]),
    interval=st.sampled_from(["1m", "5m", "1h", "3h", "1d"]),
    start_day=st.integers(0, 730),
    days=st.integers(0, 10),
)
def test_expected_bars_shape_and_count(
    code: str | None, interval: str, start_day: int, days: int
) -> None:
    """Expected bars are sorted, unique, aligned and inside the window; the count agrees."""
    iv = parse_interval(interval)
    start = utc("2023-01-01") + start_day * 86400
    end = start + days * 86400
    calendar = calendar_for(code)
    bars = calendar.expected_bars(iv, start, end)
    assert bars.dtype == np.int64
    assert (np.diff(bars) > 0).all()
    assert ((bars >= start) & (bars < end)).all()
    assert (bars % iv.seconds == 0).all()
    assert calendar.count_expected_bars(iv, start, end) == len(bars)
    if code is None:
        assert len(bars) == days * 86400 // iv.seconds
