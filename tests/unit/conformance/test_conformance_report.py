"""ConformanceReport: counts add up across windows and always serialise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.conformance import (
    QUALITY_RULES,
    STATISTICAL_RULES,
    BarFlag,
    ConformanceReport,
    conform_bars,
    count_flags,
    flag_names,
)
from seamless_sdk.intervals import parse_interval

T0 = 1_710_028_800
M1 = parse_interval("1m")


def _frame(ts: list[int], volume: list[float]) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame(
        {
            "ts": ts,
            "open": [1.0] * n,
            "high": [2.0] * n,
            "low": [0.5] * n,
            "close": [1.5] * n,
            "volume": volume,
        }
    )


def test_empty_report_is_ok_and_zero() -> None:
    """The empty report is what a read with nothing to conform reports."""
    empty = ConformanceReport.empty()
    assert empty.ok and empty.rows_in == 0 and empty.windows == 0
    assert set(empty.flag_counts) == {f.name for f in BarFlag}
    assert set(empty.rule_violations) == set(QUALITY_RULES) | set(STATISTICAL_RULES)
    assert not any(empty.flag_counts.values()) and not any(empty.rule_violations.values())


def test_empty_reports_share_no_container() -> None:
    """empty() copies a template: equal to the dataclass' own, nothing shared."""
    a, b = ConformanceReport.empty(), ConformanceReport.empty()
    assert a == b == ConformanceReport(windows=0)
    a.flag_counts["SUSPECT"] = 5
    a.rule_violations[QUALITY_RULES[0]] = 1
    a.schema_errors.append("x")
    a.failure_cases.append({"x": 1})
    a.stages["strict"] = {}
    a.policy["mode"] = "x"
    assert b == ConformanceReport.empty() == ConformanceReport(windows=0)


def test_merge_adds_counts_and_ands_ok() -> None:
    """A read spanning two windows reports the sum of both, failing if either failed."""
    good = conform_bars(
        _frame([T0, T0, T0 + 60], [1, 1, 2]), M1, T0, T0 + 3600, flags=BarFlag.BACKFILLED
    ).report
    bad = conform_bars(_frame([T0 + 3600, T0 + 7200], [-1, 3]), M1, T0 + 3600, T0 + 7200).report
    merged = good.merge(bad)

    assert merged.ok is False and good.ok and not bad.ok
    assert merged.rows_in == 5
    assert merged.rows_out == good.rows_out + bad.rows_out == 2
    assert merged.duplicates == 1
    assert merged.dropped_outside_window == 1
    assert merged.rule_violations["negative_volume"] == 1
    assert merged.flag_counts["BACKFILLED"] == 2 and merged.flag_counts["DEDUPED"] == 1
    assert merged.windows == 2
    assert merged.stages["quality"]["ok"] is False
    assert merged.stages["dedup"]["duplicates"] == 1
    assert merged.stages["time"]["ts_kind"] == "int"


def test_merge_with_empty_is_identity() -> None:
    """empty() is the unit of merge, in either order (counts and verdict)."""
    report = conform_bars(_frame([T0, T0 + 60], [1, -1]), M1, T0, T0 + 3600).report
    assert ConformanceReport.empty().merge(report).to_dict() == report.to_dict()
    assert report.merge(ConformanceReport.empty()).to_dict() == report.to_dict()


def test_merge_caps_failure_cases_and_keeps_errors() -> None:
    """Failure cases stay capped after many merges; every error message is kept."""
    bad = pd.DataFrame(
        {"ts": [T0] * 80, "open": ["x"] * 80, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    )
    report = conform_bars(bad, M1, T0, T0 + 60).report
    merged = report.merge(report)
    assert len(report.failure_cases) == 80
    assert len(merged.failure_cases) == 100
    assert merged.schema_errors == report.schema_errors * 2


def test_merge_lists_different_ts_kinds() -> None:
    """Stage labels that differ between windows are listed, not overwritten."""
    a = conform_bars(_frame([T0], [1]), M1, T0, T0 + 60).report
    b = conform_bars(_frame([T0 + 60.5], [1]), M1, T0 + 60, T0 + 120).report  # type: ignore[list-item]
    assert a.merge(b).stages["time"]["ts_kind"] == ["int", "float"]


def test_to_dict_is_strict_json_with_nan_failure_cases() -> None:
    """NaN/inf values in failure cases become "nan"/"inf" strings (seamless_sdk.jsonable's
    one rule): metadata must be strict JSON, and a NaN is not an infinity."""
    report = ConformanceReport(
        ok=False,
        failure_cases=[
            {"column": "ts", "check": "x", "index": np.int64(3), "failure_case": float("nan")},
            {"column": "high", "check": "x", "index": 4, "failure_case": np.float64("-inf")},
        ],
    )
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["failure_cases"] == [
        {"column": "ts", "check": "x", "index": 3, "failure_case": "nan"},
        {"column": "high", "check": "x", "index": 4, "failure_case": "-inf"},
    ]
    assert data["ok"] is False and data["summary"].startswith("FAILED")


def test_summary_names_the_problem() -> None:
    """The one-line summary says what blocked, for logs and exception messages."""
    report = conform_bars(_frame([T0, T0 + 60], [1, -1]), M1, T0, T0 + 3600).report
    assert report.summary == (
        "FAILED: 2 rows in, 1 bars out; 0 outside window, 0 duplicates, 0 rolled up, "
        "0 out of order; 1 bars rejected (negative_volume=1)"
    )
    missing = conform_bars(_frame([T0], [1]).drop(columns=["open"]), M1, T0, T0 + 60).report
    assert missing.summary.endswith("schema: missing column 'open'")


def test_with_gaps_sets_only_gaps() -> None:
    """The caller fills gaps (expected minus returned) after conforming."""
    report = conform_bars(_frame([T0], [1]), M1, T0, T0 + 3600).report
    filled = report.with_gaps(59)
    assert filled.gaps == 59 and report.gaps == 0
    assert {**filled.to_dict(), "gaps": 0} == report.to_dict()


def test_report_is_frozen() -> None:
    """Reports are values: shared between meta, metrics and Dagster metadata."""
    report = ConformanceReport.empty()
    with pytest.raises(AttributeError):
        report.ok = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (np.array([], dtype=np.int32), {}),
        (np.array([1, 1, 1], dtype=np.int32), {"BACKFILLED": 3}),
        (
            np.array([1 | 64, 64, 0, 128], dtype=np.int32),
            {"BACKFILLED": 1, "ROLLED_UP": 2, "DEDUPED": 1},
        ),
    ],
    ids=["empty", "constant_column_fast_path", "mixed"],
)
def test_count_flags(flags: np.ndarray, expected: dict[str, int]) -> None:
    """Rows per flag name, every flag listed; the constant-column shortcut agrees."""
    assert count_flags(flags) == {**{f.name: 0 for f in BarFlag}, **expected}


def test_flag_values_are_fixed() -> None:
    """Flag bits are stored in files and Dagster metadata: they must never move."""
    assert {f.name: int(f) for f in BarFlag} == {
        "BACKFILLED": 1,
        "LIVE": 2,
        "FWD_FILLED": 4,
        "OUT_OF_ORDER": 8,
        "ADJUSTED": 16,
        "PARTIAL_BAR": 32,
        "ROLLED_UP": 64,
        "DEDUPED": 128,
        "SUSPECT": 256,
    }
    assert flag_names(1 | 64) == ["BACKFILLED", "ROLLED_UP"]


def test_with_strict_records_the_calendar_check() -> None:
    """strict=True: bars differing from the calendar's expected bars fail the report."""
    report = conform_bars(_frame([T0], [1]), M1, T0, T0 + 180).report
    failed = report.with_strict(expected=3, observed=1, missing=[T0 + 60, T0 + 120], unexpected=[])
    assert report.ok and not failed.ok
    assert failed.stages["strict"] == {
        "ok": False,
        "expected": 3,
        "observed": 1,
        "missing": [T0 + 60, T0 + 120],
        "unexpected": [],
    }
    assert failed.summary.endswith("strict: expected 3 bars, got 1")
    passed = report.with_strict(expected=1, observed=1, missing=[], unexpected=[])
    assert passed.ok and passed.stages["strict"]["ok"] is True
    json.dumps(failed.to_dict(), allow_nan=False)
