"""Interval parsing and the calendar windows chunks and partitions follow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seamless_sdk import InvalidRequestError
from seamless_sdk.intervals import chunk_windows, parse_interval, partition_windows


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
