"""The versioned pandera schema of ohlcv_bars and the timestamp parser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import STORED_COLUMNS
from seamless_sdk.conformance import (
    INPUT_SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STORED_SCHEMA,
    OHLCVBars,
    conform_bars,
    validate_stored,
)
from seamless_sdk.conformance.engine.time import NS, to_utc_ns
from seamless_sdk.intervals import parse_interval

T0 = 1_710_028_800


def _stored(n: int = 3) -> pd.DataFrame:
    source = pd.DataFrame(
        {
            "ts": T0 + 60 * np.arange(n),
            "open": 10.0,
            "high": 11.0,
            "low": 9.0,
            "close": 10.5,
            "volume": 5.0,
        }
    )
    return conform_bars(source, parse_interval("1m"), T0, T0 + 3600).frame


def test_schema_identity() -> None:
    """Both views carry the dataset kind's name and version."""
    assert (SCHEMA_NAME, SCHEMA_VERSION) == ("ohlcv_bars", "1")
    assert STORED_SCHEMA.name == INPUT_SCHEMA.name == SCHEMA_NAME
    assert INPUT_SCHEMA.metadata == {"version": SCHEMA_VERSION}
    assert OHLCVBars.get_metadata()[SCHEMA_NAME]["dataframe"] == {"version": SCHEMA_VERSION}
    assert list(STORED_SCHEMA.columns) == list(STORED_COLUMNS)


def test_conformed_frame_passes_the_stored_schema() -> None:
    """What the pipeline builds is exactly what the stored schema describes."""
    assert validate_stored(_stored()) == ([], [])


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (lambda f: f.assign(high=f["open"] - 1), "high_ge_max_open_close"),
        (lambda f: f.assign(low=f["close"] + 1), "low_le_min_open_close"),
        (lambda f: f.assign(volume=-1.0), "greater_than_or_equal_to(0)"),
        (lambda f: f.assign(close=np.inf, high=np.inf), "finite_values"),
        (lambda f: f.iloc[::-1].reset_index(drop=True), "ascending"),
        (lambda f: pd.concat([f, f.iloc[:1]], ignore_index=True), "field_uniqueness"),
        (lambda f: f.assign(flags=f["flags"].astype("int64")), "dtype('int32')"),
        (lambda f: f.assign(ts=f["ts"].dt.as_unit("us")), "dtype('datetime64[ns, UTC]')"),
        (lambda f: f.assign(extra=1), "column_in_schema"),
        (lambda f: f[["open", "ts", "high", "low", "close", "volume", "flags"]], "column_ordered"),
    ],
    ids=[
        "high",
        "low",
        "volume",
        "inf",
        "descending",
        "duplicate_ts",
        "flags_dtype",
        "ts_unit",
        "extra_column",
        "order",
    ],
)
def test_stored_schema_catches(mutate: object, check: str) -> None:
    """Asset checks rely on validate_stored catching each way a stored frame can be wrong."""
    errors, cases = validate_stored(mutate(_stored()))  # type: ignore[operator]
    assert errors, check
    assert any(check in c["check"] for c in cases), [c["check"] for c in cases]


def test_input_schema_allows_nan_and_any_ts() -> None:
    """NaN is the quality stage's business, and ts is parsed by the time stage."""
    frame = pd.DataFrame(
        {"ts": ["whenever"], "open": [np.nan], "high": [1], "low": [1], "close": [1], "volume": [1]}
    )
    validated = INPUT_SCHEMA.validate(frame, lazy=True)
    assert validated["high"].dtype == np.float64


EPOCH_NS = T0 * NS


@pytest.mark.parametrize(
    ("ts", "kind"),
    [
        (pd.Series([T0], dtype="int64"), "int"),
        (pd.Series([T0], dtype="int32"), "int"),
        (pd.Series([T0], dtype="uint64"), "int"),
        (pd.Series([float(T0)]), "float"),
        (pd.Series(pd.to_datetime([T0], unit="s").as_unit("s")), "datetime64[s]"),
        (pd.Series(pd.to_datetime([T0], unit="s").as_unit("ns")), "datetime64[ns]"),
        (
            pd.Series(pd.to_datetime([T0], unit="s", utc=True).tz_convert("America/New_York")),
            "datetime64[us, America/New_York]",
        ),
        (pd.Series(["2024-03-10T00:00:00Z"]), "string"),
        (pd.Series(["2024-03-10T01:00:00+01:00"], dtype=object), "object"),
        (
            pd.Series(
                [datetime(2024, 3, 9, 19, tzinfo=timezone(timedelta(hours=-5)))], dtype=object
            ),
            "object",
        ),
        (pd.Series(["10 March 2024 00:00"]), "string"),
        (pd.Series([T0], dtype="Int64"), "int"),
        (pd.Series([T0], dtype="int64[pyarrow]"), "int"),
        (
            pd.Series(pd.to_datetime([T0], unit="s", utc=True)).astype(
                "timestamp[ms, tz=UTC][pyarrow]"
            ),
            "datetime64[ms, UTC]",
        ),
        (pd.Series(pd.period_range("2024-03-10 00:00", periods=1, freq="min")), "datetime64[us]"),
        (pd.Series(pd.Categorical(["2024-03-10T00:00:00Z"])), "object"),
    ],
    ids=[
        "int64",
        "int32",
        "uint64",
        "float",
        "dt_s",
        "dt_ns",
        "dt_new_york",
        "iso_z",
        "iso_offset_object",
        "datetime_obj",
        "loose_text",
        "nullable_int",
        "arrow_int",
        "arrow_timestamp",
        "period",
        "categorical_text",
    ],
)
def test_to_utc_ns_forms(ts: pd.Series, kind: str) -> None:
    """Every accepted ts form lands on the same UTC instant, in nanoseconds."""
    outcome = to_utc_ns(ts)
    assert outcome.errors == []
    assert outcome.ns is not None and outcome.ns.dtype == np.int64
    assert outcome.ns.tolist() == [EPOCH_NS]
    assert outcome.kind == kind


def test_float_seconds_keep_sub_second_order() -> None:
    """Fractions order samples inside a second; the whole second never rounds up."""
    ns = to_utc_ns(pd.Series([T0 + 0.25, T0 + 0.75, T0 + 0.999999])).ns
    assert ns is not None
    assert (np.diff(ns) > 0).all()
    assert (ns // NS == T0).all()


def test_negative_epoch_floors() -> None:
    """Times before 1970 bucket down, not towards zero."""
    ns = to_utc_ns(pd.Series([-0.5])).ns
    assert ns is not None and (ns // NS).tolist() == [-1]


def test_uint_overflow_is_an_error_not_a_wrap() -> None:
    """A uint64 beyond int64 must not wrap into a plausible negative time."""
    outcome = to_utc_ns(pd.Series([2**63 + 5], dtype="uint64"))
    assert outcome.ns is None and outcome.failure_cases[0]["index"] == 0
