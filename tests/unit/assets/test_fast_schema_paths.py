"""The schema shortcuts agree with pandera: a frame passes them only if pandera passes it.

``check_input`` skips pandera for a frame whose value columns are float64
already, and ``validate_stored`` for a frame that keeps the store's write
check; both must give the verdict pandera gives, on clean frames and on every
kind of broken one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from seamless_sdk.conformance import conform_bars
from seamless_sdk.conformance.engine.validate import check_input, validate_stored
from seamless_sdk.conformance.spec.schema import OHLCV_INPUT, STORED_SCHEMA
from seamless_sdk.fetchers.synthetic import SyntheticFetcher

T0 = 1_704_067_200


def _raw() -> pd.DataFrame:
    return SyntheticFetcher(seed=3).generate("test:FAST", "1m", T0, T0 + 3_600)


def _stored() -> pd.DataFrame:
    return conform_bars(_raw(), "1m", T0, T0 + 3_600).frame


def _pandera_passes(frame: pd.DataFrame) -> bool:
    try:
        STORED_SCHEMA.validate(frame, lazy=True)
    except SchemaErrors:
        return False
    return True


def _set(column: str, row: int, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame.loc[row, column] = value
        return frame

    return change


BROKEN: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "clean": lambda f: f,
    "nan open": _set("open", 3, np.nan),
    "nan volume": _set("volume", 5, np.nan),
    "inf close": _set("close", 7, np.inf),
    "negative volume": _set("volume", 2, -1.0),
    "high below open": lambda f: _set("high", 4, float(f.loc[4, "open"]) - 10.0)(f),
    "low above close": lambda f: _set("low", 4, float(f.loc[4, "close"]) + 10.0)(f),
    "duplicate ts": lambda f: pd.concat([f.iloc[:3], f.iloc[2:]], ignore_index=True),
    "descending ts": lambda f: f.iloc[::-1].reset_index(drop=True),
    "sub-second ts": lambda f: f.assign(ts=f["ts"] + pd.Timedelta(milliseconds=1)),
    "naive ts": lambda f: f.assign(ts=f["ts"].dt.tz_localize(None)),
    "us ts": lambda f: f.assign(ts=f["ts"].astype("datetime64[us, UTC]")),
    "float32 open": lambda f: f.assign(open=f["open"].astype(np.float32)),
    "int64 flags": lambda f: f.assign(flags=f["flags"].astype(np.int64)),
    "extra column": lambda f: f.assign(extra=1.0),
    "missing column": lambda f: f.drop(columns=["volume"]),
    "reordered": lambda f: f[["ts", "high", "open", "low", "close", "volume", "flags"]],
    "empty": lambda f: f.iloc[:0],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validate_stored_agrees_with_pandera(name: str) -> None:
    frame = BROKEN[name](_stored())
    errors, _ = validate_stored(frame)
    assert (not errors) == _pandera_passes(frame), name


def test_validate_stored_still_reports_failure_cases() -> None:
    errors, cases = validate_stored(_set("volume", 2, -1.0)(_stored()))
    assert errors and cases  # the fallback is pandera, with its failure cases


INPUTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "clean": lambda f: f,
    "nan values": _set("open", 1, np.nan),
    "strings": lambda f: f.assign(open=f["open"].astype(str)),
    "bad strings": lambda f: f.assign(open=["x"] * len(f)),
    "ints": lambda f: f.assign(volume=f["volume"].astype(np.int64)),
    "nullable Float64": lambda f: f.assign(close=f["close"].astype("Float64")),
    "missing ts": lambda f: f.drop(columns=["ts"]),
    "missing close": lambda f: f.drop(columns=["close"]),
    "extra column": lambda f: f.assign(note="x"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_check_input_agrees_with_pandera(name: str) -> None:
    frame = INPUTS[name](_raw())
    outcome = check_input(frame)
    try:
        expected = OHLCV_INPUT.schema.validate(frame, lazy=True)
    except SchemaErrors:
        expected = None
    assert outcome.ok == (expected is not None), name
    if expected is not None:
        assert outcome.frame is not None
        for column in OHLCV_INPUT.value_columns:
            np.testing.assert_array_equal(
                outcome.frame[column].to_numpy(np.float64), expected[column].to_numpy(np.float64)
            )
