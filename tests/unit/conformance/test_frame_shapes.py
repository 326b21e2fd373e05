"""Hostile fetcher frames (issue 9, item 4): each gets a reason, none gets stored.

Before, a frame with MultiIndex columns raised a raw ``KeyError: 'ts'`` and
complex prices were stored as their real part with only a numpy warning.
Each case below is a frame that is not a flat table of the expected columns
with real numbers (and, for ``ts``, times): ``conform_bars`` reports it
with the reason, and a fill raises ``ConformanceError`` and writes nothing.
The property test (``tests/property/test_frame_shapes.py``) generates the
rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk import SeamlessDataProvider, Strategy
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import conform_bars
from seamless_sdk.errors import ConformanceError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore

T0 = 1_710_028_800
M1 = parse_interval("1m")


def base() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": T0 + 60 * np.arange(3),
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
            "volume": 3.0,
        }
    )


def _multiindex_columns(levels: int) -> Callable[[], Any]:
    def build() -> pd.DataFrame:
        frame = base()
        frame.columns = pd.MultiIndex.from_tuples([(c, *["x"] * (levels - 1)) for c in frame])
        return frame

    return build


def _with(column: str, values: Callable[[pd.Series], Any]) -> Callable[[], Any]:
    def build() -> pd.DataFrame:
        frame = base()
        frame[column] = values(frame[column])
        return frame

    return build


class _LenRaises(pd.DataFrame):
    def __len__(self) -> int:
        raise RuntimeError("len boom")


class _StrRaises:
    def __str__(self) -> str:
        raise RuntimeError("str boom")

    __repr__ = __str__


def _named(name: object) -> Callable[[], Any]:
    def build() -> pd.DataFrame:
        return base().assign(x=1.0).rename(columns={"x": name})

    return build


HOSTILE: list[tuple[str, Callable[[], Any], str]] = [
    # A frame that breaks while it is read escaped as its own RuntimeError.
    ("len() raises", lambda: _LenRaises(base()), "could not be read: RuntimeError('len boom')"),
    ("a cell's str() raises", _with("open", lambda s: [_StrRaises()] * 3), "str boom"),
    ("a column name's str() raises", _named(_StrRaises()), "str boom"),
    ("a ts cell's str() raises", _with("ts", lambda s: [_StrRaises()] * 3), "str boom"),
    ("MultiIndex columns", _multiindex_columns(2), "MultiIndex"),
    ("one-level MultiIndex columns", _multiindex_columns(1), "MultiIndex"),
    ("complex prices", _with("open", lambda s: s.astype(complex)), "complex128 is not a real"),
    ("complex objects", _with("low", lambda s: pd.Series([0.5, 1j, 0.5], dtype=object)), "1j"),
    ("bool volume", _with("volume", lambda s: s > 0), "bool is not a real"),
    ("list prices", _with("open", lambda s: pd.Series([[1.0]] * 3)), "3 value(s) that are not"),
    ("array prices", _with("low", lambda s: pd.Series([np.ones(1)] * 3)), "e.g. array([1.])"),
    ("bool objects", _with("volume", lambda s: pd.Series([True, 1.0, 2.0], dtype=object)), "True"),
    ("categorical close", _with("close", lambda s: s.astype("category")), "category"),
    ("timedelta open", _with("open", lambda s: pd.to_timedelta(s, unit="s")), "timedelta64"),
    ("datetime high", _with("high", lambda s: pd.to_datetime(s, unit="s")), "datetime64"),
    ("text that is no number", _with("high", lambda s: ["2", "x", "2"]), "'x'"),
    (
        "huge int object",
        _with("volume", lambda s: pd.Series([10**400, 1, 1], dtype=object)),
        "coerce",
    ),
    ("duplicated open", lambda: pd.concat([base(), base()[["open"]]], axis=1), "appears 2 times"),
    ("complex ts", _with("ts", lambda s: s.astype(complex)), "ts: 3 value(s) is not a time"),
    ("timedelta ts", _with("ts", lambda s: pd.to_timedelta(s, unit="s")), "is not a time"),
    ("numbers among ISO text", _with("ts", lambda s: [T0, "2024-03-10T00:01:00Z", T0]), "number"),
    ("None", lambda: None, "got NoneType"),
    ("a list", lambda: [[T0, 1.0, 2.0, 0.5, 1.5, 3.0]], "got list"),
    ("a dict", lambda: base().to_dict(orient="list"), "got dict"),
    ("a Series", lambda: base()["open"], "got Series"),
]
CASES = pytest.mark.parametrize(
    ("build", "reason"), [(b, r) for _, b, r in HOSTILE], ids=[name for name, _, _ in HOSTILE]
)


@CASES
def test_conform_reports_the_reason(build: Callable[[], Any], reason: str) -> None:
    result = conform_bars(build(), M1, T0, T0 + 180)
    assert not result.ok
    assert any(reason in e for e in result.report.schema_errors), result.report.schema_errors
    assert result.frame.empty and result.rejected == RangeSet([(T0, T0 + 180)])
    assert result.report.to_dict()["schema_errors"] == result.report.schema_errors


class _Returns:
    def __init__(self, value: Any) -> None:
        self.value = value

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> Any:
        return self.value


@CASES
def test_a_fill_raises_and_writes_nothing(
    tmp_path: Path, build: Callable[[], Any], reason: str
) -> None:
    with LocalStore(tmp_path / "bars.sqlite") as store:
        with pytest.raises(ConformanceError) as info:
            fill_window(
                store,
                _Returns(build()),
                "demo:A",
                M1,
                T0,
                T0 + 180,
                policy=FillPolicy(max_attempts=1, retry_backoff_ms=0),
                now=T0 + 86_400,
            )
        assert any(reason in e for e in info.value.report.schema_errors)
        assert store.coverage("demo:A", M1) == RangeSet()
        assert store.read("demo:A", M1, T0, T0 + 180).empty


def test_plain_numeric_text_and_multiindex_rows_still_conform() -> None:
    """What was accepted stays accepted: numbers as text are coerced, and the row
    index (even a MultiIndex) is not part of the table."""
    frame = base()
    frame["high"] = ["2", "2.0", "2e0"]
    frame.index = pd.MultiIndex.from_arrays([[0, 1, 2], ["a", "b", "c"]])
    result = conform_bars(frame, M1, T0, T0 + 180)
    assert result.ok and len(result.frame) == 3
    assert result.frame["high"].tolist() == [2.0, 2.0, 2.0]


def test_a_categorical_ts_is_read_as_its_values() -> None:
    """Categories of epoch seconds are seconds, not nanoseconds a text parser guessed."""
    frame = base()
    frame["ts"] = frame["ts"].astype("category")
    result = conform_bars(frame, M1, T0, T0 + 180)
    assert result.ok and (result.frame["ts"].array.asi8 // 10**9).tolist() == [
        T0,
        T0 + 60,
        T0 + 120,
    ]


@pytest.mark.parametrize(
    ("build", "reason"),
    [(b, r) for name, b, r in HOSTILE if name in {"MultiIndex columns", "complex prices", "None"}],
    ids=["MultiIndex columns", "complex prices", "None"],
)
def test_a_read_raises_conformance_error_and_stores_nothing(
    tmp_path: Path, build: Callable[[], Any], reason: str
) -> None:
    """The issue's own cases through the public read API."""
    with (
        LocalStore(tmp_path / "bars.sqlite") as store,
        SeamlessDataProvider(store=store, fetcher=_Returns(build())) as provider,
    ):
        with pytest.raises(ConformanceError) as info:
            provider.read("demo:A", "1m", T0, T0 + 180, strategy=Strategy.AUTO_BACKFILL)
        assert any(reason in e for e in info.value.report.schema_errors)
        assert store.coverage("demo:A", M1) == RangeSet()
