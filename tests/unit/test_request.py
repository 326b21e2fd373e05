"""Request validation: every bad field is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo

import numpy as np
import pandas as pd
import pytest

from seamless_sdk import InvalidRequestError
from seamless_sdk.intervals import MAX_TIME, MIN_TIME
from seamless_sdk.request import to_epoch_seconds, validate_node_id, validate_request

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z


class _Offset(tzinfo):
    """A tzinfo whose offset Python itself refuses (|offset| >= 24 h)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.offset


class _BadIndex:
    def __index__(self) -> int:
        raise TypeError("no")


@pytest.mark.parametrize(
    "value",
    [
        T0,
        "2024-01-01",
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00+01:00",
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1),
        datetime(2023, 12, 31, 19, tzinfo=timezone(timedelta(hours=-5))),
        pd.Timestamp("2024-01-01", tz="UTC"),
        pd.Timestamp("2024-01-01"),
        "2024-01-01 00:00",
        "2024-01-01T00:00:00.000Z",
        "2024-01-01t00:00:00z",
        "2024-01-01T01:00:00+0100",
        "20240101",
        "20240101T000000Z",
    ],
)
def test_time_forms(value: object) -> None:
    assert to_epoch_seconds(value, "start") == T0


@pytest.mark.parametrize(
    "node",
    ["demo:BTCUSDT", "a", "X.Y-Z_1:2", "a" * 128],
)
def test_good_node_ids(node: str) -> None:
    assert validate_node_id(node) == node


@pytest.mark.parametrize(
    "node",
    ["a b", "", ":a", "a" * 129, "a/b", "a;DROP TABLE", "a\n", "ä", None, 5, "../x"],
)
def test_bad_node_ids(node: object) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_node_id(node)
    assert info.value.field == "node_id"
    assert str(info.value).startswith("node_id: ")


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("n", "1m", T0 + 1, T0 + 60), "start"),
        (("n", "1m", T0, T0 + 61), "end"),
        (("n", "1m", T0 + 60, T0), "end"),
        (("n", "7x", T0, T0 + 60), "interval"),
        (("n", "1m", "yesterday-ish", T0), "start"),
        (("n", "1m", T0, 1.5), "end"),
        (("n", "1m", T0, [1]), "end"),
        (("a b", "1m", T0, T0), "node_id"),
    ],
)
def test_bad_requests_name_the_field(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        validate_request(*args)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("start", "end", "interval", "field"),
    [
        pytest.param("0001-01-01", "0001-01-02", "1m", "start", id="year 1 strings"),
        pytest.param(datetime(1, 1, 1), T0, "1m", "start", id="datetime(1, 1, 1)"),
        pytest.param(T0, datetime(9999, 12, 30), "1m", "end", id="datetime(9999, 12, 30)"),
        pytest.param(-100_000_000_800, T0, "1h", "start", id="-1e11 with 1h bars"),
        pytest.param(T0, 1e300, "1m", "end", id="a huge float"),
        pytest.param(np.datetime64("1500-01-01"), T0, "1d", "start", id="datetime64 day"),
        pytest.param(T0, pd.Timestamp("2262-04-12"), "1d", "end", id="Timestamp past the end"),
        pytest.param(T0, "2263-01-01T00:00:00Z", "1m", "end", id="ISO past the end"),
        pytest.param("1677-09-21", T0, "1d", "start", id="a day before the start"),
    ],
)
def test_times_outside_the_supported_range_name_the_field(
    start: object, end: object, interval: str, field: str
) -> None:
    with pytest.raises(InvalidRequestError, match="outside the supported time range") as info:
        validate_request("x", interval, start, end)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert "1677-09-22" in str(info.value) and "2262-04-11" in str(info.value)


def test_the_range_bounds_themselves_are_accepted() -> None:
    req = validate_request("x", "1d", "1677-09-22", "2262-04-11")
    assert (req.start, req.end) == (MIN_TIME, MAX_TIME)
    assert req.start == to_epoch_seconds(datetime(1677, 9, 22), "start")
    assert req.end == to_epoch_seconds(np.datetime64("2262-04-11T00:00:00", "ns"), "end")
    # Both bounds, as ns, fit datetime64[ns]: a bar at either end can be returned.
    assert pd.Timestamp(MIN_TIME * 10**9, tz="UTC") == pd.Timestamp("1677-09-22", tz="UTC")
    assert pd.Timestamp(MAX_TIME * 10**9, tz="UTC") == pd.Timestamp("2262-04-11", tz="UTC")


@pytest.mark.parametrize(
    "value",
    [
        np.datetime64("2024-01-01"),
        np.datetime64("2024-01-01T00:00:00"),
        np.datetime64("2024-01-01T00:00:00.000000000"),
        np.datetime64("2024-01", "M"),
        np.datetime64(1_704_067_200_000, "ms"),
        np.float64(T0),
        np.int32(0) + T0,
    ],
)
def test_numpy_forms(value: object) -> None:
    assert to_epoch_seconds(value, "start") == T0


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (np.datetime64("2024-01-01T00:00:00.5"), "whole number of seconds"),
        (np.datetime64("NaT"), "not a time"),
        (pd.NaT, "not a time"),
        (float("inf"), "not a finite time"),
        (float("nan"), "not a finite time"),
        (True, "not a time"),
        (pd.Timestamp("2024-01-01T00:00:00.000000001"), "whole number of seconds"),
        (datetime(2024, 1, 1, 0, 0, 0, 1), "whole number of seconds"),
        ("10000-01-01", "outside the supported time range"),
        ("2023-02-30", "not an ISO-8601 time .day is out of range for month"),
        # pandas would guess these: month first, a month name, a NUL dropped.
        ("11/12/2023", "not an ISO-8601 time like"),
        ("Nov 14 2023", "not an ISO-8601 time like"),
        ("2023-11-14\x00", "not an ISO-8601 time like"),
        (" 2023-11-14", "not an ISO-8601 time like"),
        ("2023-11-14T00:00:00.000000000001", "whole number of seconds"),  # past ns
        ("1700006400", "give epoch seconds as an int"),
        (np.timedelta64(1_700_000_000, "s"), "is a duration, not a time"),
        (np.timedelta64("NaT"), "is a duration, not a time"),
        (pd.Timedelta(seconds=5), "is a duration, not a time"),
        (timedelta(days=1), "is a duration, not a time"),
        # These escaped as numpy's TypeError and datetime's ValueError.
        (np.array([T0]), r"an array of shape \(1,\) is not a time"),
        (np.array(T0), r"an array of shape \(\) is not a time"),
        (datetime(2024, 1, 1, tzinfo=_Offset(timedelta(hours=30))), "no usable UTC offset"),
        (_BadIndex(), "is not an epoch-seconds int"),
    ],
)
def test_bad_times_say_why(value: object, problem: str) -> None:
    with pytest.raises(InvalidRequestError, match=problem) as info:
        to_epoch_seconds(value, "start")
    assert info.value.field == "start"


def test_an_unprintable_timestamp_still_gets_a_message() -> None:
    # pandas cannot repr a Timestamp outside years 1-9999.
    far = pd.Timestamp(np.datetime64(400_000_000_000, "s"))
    with pytest.raises(InvalidRequestError, match="outside the supported time range"):
        to_epoch_seconds(far, "end")
