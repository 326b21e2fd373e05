"""Fetcher frames of any shape (issue 9, item 4), generated with hypothesis.

A fetcher may return anything: a frame with columns missing, repeated or
extra; values of any dtype (object, complex, bool, strings, categories,
datetimes with zones, durations, nullable ints); a MultiIndex over columns
or rows; or no frame at all. The promise: ``conform_bars`` never raises for
it; what it returns is always a valid stored frame (sorted unique ``ts``
inside the window and on the grid, float64 values, int32 flags); a report
that is not ok says why; and a fill of such a frame either stores conformed
bars or raises ``ConformanceError`` and leaves the store unchanged.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import BAR_COLUMNS, NS, STORED_COLUMNS, UTC_NS
from seamless_sdk.conformance import conform_bars, validate_stored
from seamless_sdk.errors import ConformanceError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore

T0 = 1_710_028_800
M1 = parse_interval("1m")
START, END = T0, T0 + 600
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

NAMES = st.sampled_from([*BAR_COLUMNS, "flags", "vwap", "source", "x", 0, None])
seconds = st.integers(START - 120, END + 120)
reals = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(10**6), 10**6).map(float),
)
odd_objects = st.one_of(
    reals,
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.complex_numbers(max_magnitude=1e6),
    st.none(),
    st.just(pd.NA),
    st.just(pd.NaT),
    st.sampled_from(["1.5", "2", "x", "", "nan", "1e3", "2024-03-10T00:00:00Z"]),
    st.builds(pd.Timestamp, seconds.map(lambda s: s * NS)),
    st.builds(lambda s: pd.Timedelta(seconds=s), st.integers(0, 10**6)),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def column(draw: st.DrawFn, n: int) -> Any:
    """``n`` values of one column, of a randomly chosen dtype."""
    kind = draw(
        st.sampled_from(
            [
                "float",
                "int",
                "uint",
                "object",
                "complex",
                "bool",
                "string",
                "category",
                "datetime_tz",
                "datetime_naive",
                "timedelta",
                "Int64",
                "Float64",
                "iso",
            ]
        )
    )
    secs = draw(st.lists(seconds, min_size=n, max_size=n))
    nums = draw(st.lists(reals, min_size=n, max_size=n))
    if kind == "float":
        return pd.Series(nums, dtype="float64")
    if kind == "int":
        return pd.Series(secs, dtype="int64")
    if kind == "uint":
        return pd.Series([abs(s) for s in secs], dtype="uint64")
    if kind == "object":
        return pd.Series(draw(st.lists(odd_objects, min_size=n, max_size=n)), dtype=object)
    if kind == "complex":
        return pd.Series([complex(x, draw(st.sampled_from([0.0, 1.0]))) for x in nums])
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "string":
        text = draw(st.lists(st.sampled_from(["1.5", "2", "x", "3e2"]), min_size=n, max_size=n))
        return pd.Series(text, dtype="string")
    if kind == "category":
        return pd.Series(secs if draw(st.booleans()) else nums).astype("category")
    if kind == "datetime_tz":
        zone = draw(st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata"]))
        return pd.Series(pd.to_datetime(secs, unit="s", utc=True)).dt.tz_convert(zone)
    if kind == "datetime_naive":
        return pd.Series(pd.to_datetime(secs, unit="s"))
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta(secs, unit="s"))
    if kind == "Int64":
        values = [None if draw(st.booleans()) and i == 0 else s for i, s in enumerate(secs)]
        return pd.Series(values, dtype="Int64")
    if kind == "Float64":
        return pd.Series(nums, dtype="Float64")
    stamps = pd.to_datetime(secs, unit="s", utc=True)
    return pd.Series([t.isoformat() for t in stamps], dtype=object)


@st.composite
def good_column(draw: st.DrawFn, name: Any, n: int) -> Any:
    """A plausible column (so that some frames conform and the happy path is exercised too)."""
    if name == "ts":
        return pd.Series(draw(st.lists(seconds, min_size=n, max_size=n)), dtype="int64")
    base = draw(st.lists(st.integers(1, 50).map(float), min_size=n, max_size=n))
    # Ranges that keep the OHLC rules whatever the other columns drew.
    if name == "high":
        return pd.Series([b + 50 for b in base])
    if name == "low":
        return pd.Series([b / 100 for b in base])
    return pd.Series(base)


@st.composite
def frames(draw: st.DrawFn) -> Any:
    """Anything a fetcher might return."""
    shape = draw(st.sampled_from(["frame"] * 8 + ["none", "list", "dict", "series"]))
    n = draw(st.integers(0, 6))
    if shape == "none":
        return None
    if shape == "list":
        return [1.0] * n
    if shape == "dict":
        return {"ts": list(range(n))}
    if shape == "series":
        return pd.Series(np.arange(n, dtype=float), name="open")
    names = list(BAR_COLUMNS) if draw(st.booleans()) else []
    names += draw(st.lists(NAMES, max_size=4))
    data: list[tuple[Any, Any]] = []
    messy = draw(st.booleans())
    for name in names:
        plain = not messy or draw(st.booleans())
        values = draw(good_column(name, n) if plain else column(n))
        data.append((name, values.reset_index(drop=True)))
    frame = pd.concat([v.rename(k) for k, v in data], axis=1) if data else pd.DataFrame()
    if data:
        frame.columns = pd.Index([k for k, _ in data], dtype=object)
    if data and draw(st.integers(0, 5)) == 0:
        frame.columns = pd.MultiIndex.from_tuples([(str(k), "x") for k, _ in data])
    if len(frame) and draw(st.integers(0, 5)) == 0:
        frame.index = pd.MultiIndex.from_arrays([np.arange(len(frame)), np.zeros(len(frame))])
    return frame


def _assert_stored_frame(frame: pd.DataFrame) -> None:
    """The invariants of every frame conform returns, ok or not."""
    assert list(frame.columns) == list(STORED_COLUMNS)
    assert frame["ts"].dtype == UTC_NS
    assert all(frame[c].dtype == np.float64 for c in BAR_COLUMNS[1:])
    assert frame["flags"].dtype == np.int32
    assert isinstance(frame.index, pd.RangeIndex)
    secs = frame["ts"].array.asi8 // NS
    assert (np.diff(secs) > 0).all(), "sorted and unique"
    assert ((secs >= START) & (secs < END)).all(), "inside the window"
    assert (secs % M1.seconds == 0).all(), "on the grid"
    assert validate_stored(frame) == ([], [])


@given(frames())
@SETTINGS
def test_conform_never_raises_and_always_returns_a_stored_frame(raw: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning is a way of not telling the caller
        result = conform_bars(raw, M1, START, END)
    _assert_stored_frame(result.frame)
    report = result.report
    if not result.ok:
        assert report.schema_errors or any(report.rule_violations.values())
        assert report.violations > 0
    if report.schema_errors:
        assert len(result.frame) == 0 and result.rejected == RangeSet([(START, END)])


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "bars.sqlite")


class _Returns:
    """A fetcher that returns one fixed value."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> Any:
        return self.value


@given(frames())
@settings(SETTINGS, max_examples=80)
def test_a_fill_stores_conformed_bars_or_raises_and_changes_nothing(
    store: LocalStore, raw: Any
) -> None:
    node = "demo:shapes"
    store.remove_coverage(node, M1, RangeSet([(START, END)]))
    policy = FillPolicy(max_attempts=1, retry_backoff_ms=0)
    try:
        fill_window(store, _Returns(raw), node, M1, START, END, policy=policy, now=END + 3600)
    except ConformanceError as exc:
        assert not exc.report.ok and exc.report.summary
        assert store.coverage(node, M1) == RangeSet()
        assert store.read(node, M1, START, END).empty
        return
    assert store.coverage(node, M1) == RangeSet([(START, END)])
    _assert_stored_frame(store.read(node, M1, START, END))
