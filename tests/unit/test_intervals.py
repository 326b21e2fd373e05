"""Interval parsing and the calendar windows chunks and partitions follow."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_sdk import InvalidRequestError
from seamless_sdk.intervals import (
    MAX_TIME,
    MIN_TIME,
    Unit,
    chunk_start,
    chunk_windows,
    parse_interval,
    partition_windows,
    window_floor,
    window_next,
)


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("text", "seconds", "name"),
    [
        ("1s", 1, "1s"),
        ("1m", 60, "1m"),
        ("5m", 300, "5m"),
        ("15m", 900, "15m"),
        ("1h", 3600, "1h"),
        ("4h", 14400, "4h"),
        ("1d", 86400, "1d"),
        ("60s", 60, "1m"),
        ("24h", 86400, "1d"),
    ],
)
def test_parse(text: str, seconds: int, name: str) -> None:
    iv = parse_interval(text)
    assert (iv.seconds, iv.name) == (seconds, name)


def test_a_hand_built_interval_must_be_canonical() -> None:
    # Interval is public: one built by hand once reached the store (a zero
    # length divided by zero, a negative one wrote coverage-less rows).
    from seamless_sdk.intervals import Interval

    assert parse_interval(parse_interval("60s")) == Interval("1m", 60)
    for bad in (Interval("1m", 0), Interval("1m", -60), Interval("bogus", 60), Interval("60s", 60)):
        with pytest.raises(InvalidRequestError, match=r"^interval: .* not a canonical interval"):
            parse_interval(bad)


@pytest.mark.parametrize("bad", ["", "1x", "0m", "7m", "2d", "m1", "1 m", "1m\n", 60, None])
def test_bad_intervals(bad: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_interval(bad)  # type: ignore[arg-type]
    assert info.value.field == "interval"
    assert str(info.value).startswith("interval: ")


def test_chunks_and_partitions_are_calendar_windows() -> None:
    m1, h1 = parse_interval("1m"), parse_interval("1h")
    assert chunk_windows(m1, ts(2024, 2, 28, 12), ts(2024, 3, 1, 6)) == [
        (ts(2024, 2, 28, 12), ts(2024, 2, 29)),
        (ts(2024, 2, 29), ts(2024, 3, 1)),
        (ts(2024, 3, 1), ts(2024, 3, 1, 6)),
    ]
    assert partition_windows(m1, ts(2023, 12, 15), ts(2024, 2, 2)) == [
        (ts(2023, 12, 15), ts(2024, 1, 1)),
        (ts(2024, 1, 1), ts(2024, 2, 1)),
        (ts(2024, 2, 1), ts(2024, 2, 2)),
    ]
    assert partition_windows(h1, ts(2023, 6, 1), ts(2024, 6, 1)) == [
        (ts(2023, 6, 1), ts(2024, 1, 1)),
        (ts(2024, 1, 1), ts(2024, 6, 1)),
    ]
    assert m1.now_edge(ts(2024, 1, 1, 0, 0) + 59) == ts(2024, 1, 1)


@pytest.mark.parametrize(
    "bad",
    ["١m", "１m", "٥m", "1٠s", "𝟏m", "१h", "1ｍ", "1M", "1m ", " 1m", "+1m", "-1m", "1_0s"],
)
def test_intervals_are_ascii(bad: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_interval(bad)
    assert info.value.field == "interval"


@given(
    digits=st.text(st.characters(categories=["Nd"]), min_size=1, max_size=4),
    unit=st.sampled_from("smhd"),
)
def test_only_ascii_digits_parse(digits: str, unit: str) -> None:
    """Any Unicode decimal digits: parsed only if all are ASCII 0-9."""
    text = digits + unit
    try:
        iv = parse_interval(text)
    except InvalidRequestError as exc:
        assert exc.field == "interval"
    else:
        assert digits.isascii() and digits.isdigit()
        assert iv.seconds == int(digits) * {"s": 1, "m": 60, "h": 3600, "d": 86_400}[unit]


@given(text=st.text(max_size=8))
def test_anything_parses_only_if_it_is_an_ascii_interval(text: str) -> None:
    try:
        parse_interval(text)
    except InvalidRequestError:
        pass
    else:
        assert re.fullmatch(r"[0-9]{1,6}[smhd]", text, re.ASCII)


def _ref_floor(t: int, unit: str) -> int:
    d = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)
    start = datetime(d.year, d.month if unit == "month" else 1, 1, tzinfo=UTC)
    return int(start.timestamp())


def _ref_next(t: int, unit: str) -> int:
    d = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)
    if unit == "year" or d.month == 12:
        return int(datetime(d.year + 1, 1, 1, tzinfo=UTC).timestamp())
    return int(datetime(d.year, d.month + 1, 1, tzinfo=UTC).timestamp())


EDGES = st.one_of(
    st.integers(MIN_TIME, MAX_TIME),
    st.integers(MIN_TIME, MIN_TIME + 400 * 86_400),
    st.integers(MAX_TIME - 400 * 86_400, MAX_TIME),
)


@settings(max_examples=400)
@given(t=EDGES, unit=st.sampled_from(["hour", "day", "month", "year"]))
def test_window_math_is_total_and_calendar_exact_over_the_range(t: int, unit: Unit) -> None:
    t = min(t, MAX_TIME - 1)  # a bar's time: the range's end is exclusive
    lo, hi = window_floor(t, unit), window_next(t, unit)
    assert MIN_TIME <= lo <= t < hi <= MAX_TIME
    assert window_floor(hi - 1, unit) == lo
    if hi < MAX_TIME:
        assert window_floor(hi, unit) == hi
    if unit in ("month", "year"):
        # Calendar windows, cut at the bounds of the supported range.
        ref = (max(_ref_floor(t, unit), MIN_TIME), min(_ref_next(t, unit), MAX_TIME))
        assert (lo, hi) == ref


def test_the_first_and_last_windows_are_cut_at_the_range() -> None:
    d1 = parse_interval("1d")
    assert chunk_start(d1, MIN_TIME) == MIN_TIME  # not 1677-01-01
    assert chunk_windows(d1, MIN_TIME, MIN_TIME + 86_400)[0] == (MIN_TIME, MIN_TIME + 86_400)
    assert window_next(MAX_TIME - 86_400, "year") == MAX_TIME  # not 2263-01-01
    assert partition_windows(d1, MAX_TIME - 400 * 86_400, MAX_TIME)[-1] == (
        _ref_floor(MAX_TIME - 1, "year"),
        MAX_TIME,
    )
    # Outside the range the arithmetic stays plain calendar math.
    assert window_floor(MIN_TIME - 1, "year") == _ref_floor(MIN_TIME - 1, "year")


@settings(max_examples=200)
@given(
    s=EDGES,
    length=st.integers(0, 3 * 366 * 86_400),
    interval=st.sampled_from(["1s", "1m", "1h", "1d"]),
)
def test_chunks_tile_any_range_inside_the_supported_range(
    s: int, length: int, interval: str
) -> None:
    iv = parse_interval(interval)
    e = min(MAX_TIME, s + length)
    if iv.chunk_unit == "hour":
        e = min(e, s + 50 * 3600)  # keep the example small
    chunks = chunk_windows(iv, s, e)
    assert [a for a, _ in chunks[1:]] == [b for _, b in chunks[:-1]]
    assert (chunks[0][0], chunks[-1][1]) == (s, e) if chunks else s == e
    for a, b in chunks:
        assert chunk_start(iv, a) == chunk_start(iv, b - 1)


def test_the_issue_case_of_a_far_past_1h_start_is_plain_arithmetic() -> None:
    # datetime.fromtimestamp raised "year -1199 is out of range" here.
    h1 = parse_interval("1h")
    cs = chunk_start(h1, -100_000_000_800)
    assert cs <= -100_000_000_800 < window_next(cs, "month")
