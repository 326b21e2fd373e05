"""The three per-partition checks, evaluated without Dagster."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seamless_assets.checks.evaluate import (
    completeness_outcome,
    quality_outcome,
    schema_outcome,
)
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.conformance import QUALITY_TABLE, ConformanceReport, QualityRule
from seamless_sdk.ranges import RangeSet
from tests.unit.conformance.test_rules_table import break_row

T0 = 1_704_067_200


def bars(n: int, *, start: int = T0, step: int = 60) -> pd.DataFrame:
    ts = start + step * np.arange(n, dtype=np.int64)
    price = 100.0 + np.arange(n, dtype=np.float64)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns"),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price + 0.5,
            "volume": np.full(n, 10.0),
            "flags": np.zeros(n, dtype=np.int32),
        }
    )


def test_good_window_passes_every_check() -> None:
    frame = bars(60)
    report = ConformanceReport()
    assert schema_outcome(frame, report).passed
    assert quality_outcome(frame, report).passed
    done = completeness_outcome(
        epoch_seconds(frame["ts"]),
        T0 + 60 * np.arange(60),
        T0,
        T0 + 3600,
        RangeSet([(T0, T0 + 3600)]),
    )
    assert done.passed
    assert done.metadata["expected"] == done.metadata["observed"] == 60
    assert done.metadata["coverage_ratio"] == 1.0
    assert done.metadata["first_gap"] == "none"


def test_bad_stored_bar_fails_schema_and_quality_with_cases() -> None:
    frame = bars(5)
    frame.loc[2, "high"] = 50.0  # below open and close
    schema = schema_outcome(frame, None)
    quality = quality_outcome(frame, None)
    assert not schema.passed and schema.severity == "ERROR"
    assert schema.metadata["failure_cases"]
    assert not quality.passed
    assert quality.metadata["stored_violations"]["high_lt_max_open_close"] == 1
    assert quality.metadata["failure_cases"][0]["ts"] == "2024-01-01T00:02:00Z"


def test_rejected_bars_of_the_fill_fail_quality() -> None:
    rules = dict.fromkeys(ConformanceReport().rule_violations, 0) | {"negative_volume": 3}
    report = ConformanceReport(ok=False, rejected_bars=3, rule_violations=rules)
    outcome = quality_outcome(bars(10), report)
    assert not outcome.passed
    assert outcome.metadata["rejected_violations"]["negative_volume"] == 3
    assert "negative_volume=3" in outcome.description


def test_schema_errors_of_the_fill_fail_schema() -> None:
    report = ConformanceReport(ok=False, schema_errors=["column 'close' not in dataframe"])
    outcome = schema_outcome(bars(0), report)
    assert not outcome.passed
    assert outcome.metadata["fill_errors"] == ["column 'close' not in dataframe"]


def test_missing_bars_warn_with_first_gap_and_ratio() -> None:
    frame = bars(60).drop(index=[10, 11, 30]).reset_index(drop=True)
    expected = T0 + 60 * np.arange(60)
    outcome = completeness_outcome(
        epoch_seconds(frame["ts"]), expected, T0, T0 + 3600, RangeSet([(T0, T0 + 1800)])
    )
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.metadata["missing"] == 3
    assert outcome.metadata["observed"] == 57
    assert outcome.metadata["first_gap"] == "2024-01-01T00:10:00Z"
    assert outcome.metadata["coverage_ratio"] == 57 / 60
    assert outcome.metadata["uncovered_ranges"] == [
        ["2024-01-01T00:30:00Z", "2024-01-01T01:00:00Z"]
    ]


def test_nothing_expected_is_complete() -> None:
    """A closed exchange expects no bar: an empty window is complete, not missing."""
    outcome = completeness_outcome(
        np.empty(0, np.int64), np.empty(0, np.int64), T0, T0 + 3600, RangeSet()
    )
    assert outcome.passed
    assert outcome.metadata["coverage_ratio"] == 1.0


@pytest.mark.parametrize("rule", QUALITY_TABLE, ids=lambda r: r.name)
def test_the_quality_check_enforces_every_rule_of_the_table(rule: QualityRule) -> None:
    """The Dagster quality check counts stored bars by the same table."""
    frame = break_row(bars(5), 2, rule.name)
    outcome = quality_outcome(frame, None)
    assert not outcome.passed
    broken = {k for k, v in outcome.metadata["stored_violations"].items() if v}
    assert broken == {rule.name}
    assert outcome.metadata["failure_cases"][0]["ts"] == "2024-01-01T00:02:00Z"
    json.dumps(outcome.metadata, allow_nan=False)  # NaN and inf values are strict JSON


def test_bars_outside_the_sessions_warn() -> None:
    """An exchange node storing night bars is not complete, whatever is expected."""
    frame = bars(60)
    expected = T0 + 60 * np.arange(30)  # the session ends halfway through the hour
    outcome = completeness_outcome(
        epoch_seconds(frame["ts"]), expected, T0, T0 + 3600, RangeSet([(T0, T0 + 3600)])
    )
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.metadata["missing"] == 0 and outcome.metadata["unexpected_bars"] == 30
    assert outcome.description == "30 stored bars outside the calendar's sessions"


def test_strict_completeness_is_an_error() -> None:
    frame = bars(60)
    args = (epoch_seconds(frame["ts"]), T0 + 60 * np.arange(30), T0, T0 + 3600, RangeSet())
    assert completeness_outcome(*args, strict=True).severity == "ERROR"
    assert completeness_outcome(*args).severity == "WARN"
