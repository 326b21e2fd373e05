"""Every consumer of the rules table enforces every rule in it.

``QUALITY_TABLE`` (``conformance/spec/rules.py``) is the one home of the OHLC
rules; the quality stage, the registry's pandera schema, the typed model and
the store's column check are built from it (the Great Expectations suite and
the Dagster quality check have their own tests in ``tests/unit/assets``).
Each test is parametrized over the table, and ``BREAKING`` must name a
breaking row for every rule, so a rule added to the table without a case
here fails at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandera.errors import SchemaErrors

from seamless_sdk.bars import STORED_COLUMNS, VALUE_COLUMNS
from seamless_sdk.conformance import (
    QUALITY_RULES,
    QUALITY_TABLE,
    STORED_SCHEMA,
    OHLCVBars,
    QualityRule,
    conform_bars,
    validate_stored,
)
from seamless_sdk.conformance.spec.checks import CHECK_NAMES, frame_check
from seamless_sdk.conformance.spec.rules import FRAME_CHECKS, breaking_rows, rules_of_check
from seamless_sdk.errors import StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore

T0 = 1_710_028_800
M1 = parse_interval("1m")
GOOD = {"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0}

BREAKING: dict[str, dict[str, float]] = {
    "high_lt_max_open_close": {"high": 1.2},
    "low_gt_min_open_close": {"low": 1.1},
    "negative_volume": {"volume": -1.0},
    "nan_price": {"close": float("nan")},
    "nan_volume": {"volume": float("nan")},
    "inf_value": {"high": float("inf")},
}
"""Per rule, the values of one row that break that rule and no other."""


def break_row(frame: pd.DataFrame, row: int, rule: str) -> pd.DataFrame:
    """A copy of ``frame`` whose ``row`` holds the good values with ``BREAKING[rule]``
    laid over them (for other tests' frames, whatever their prices)."""
    out = frame.copy()
    for column, value in (GOOD | BREAKING[rule]).items():
        out.loc[row, column] = value
    return out


RULES = pytest.mark.parametrize("rule", QUALITY_TABLE, ids=lambda r: r.name)


def stored(bad: dict[str, float] | None = None, n: int = 3) -> pd.DataFrame:
    """A stored bar frame of ``n`` good bars; the middle one gets ``bad``'s values."""
    values = {c: np.full(n, GOOD[c]) for c in VALUE_COLUMNS}
    for column, value in (bad or {}).items():
        values[column][n // 2] = value
    ts = pd.to_datetime(T0 + 60 * np.arange(n), unit="s", utc=True).as_unit("ns")
    return pd.DataFrame({"ts": ts, **values, "flags": np.zeros(n, dtype=np.int32)})


def test_every_rule_has_a_breaking_case_and_the_table_is_well_formed() -> None:
    assert set(BREAKING) == set(QUALITY_RULES)
    assert len(set(QUALITY_RULES)) == len(QUALITY_TABLE)
    for rule in QUALITY_TABLE:
        assert rule.severity == "block", rule.name  # the store cannot hold such a bar
        assert set(rule.columns) <= set(VALUE_COLUMNS), rule.name
        assert (rule.check_column is None) == (rule.check in FRAME_CHECKS), rule.name
    assert set(FRAME_CHECKS) <= set(CHECK_NAMES)


@RULES
def test_each_case_breaks_exactly_its_own_rule(rule: QualityRule) -> None:
    """The predicates agree with the cases: a good row breaks nothing, a case one rule."""
    frame = stored(BREAKING[rule.name])
    masks = breaking_rows({c: frame[c].to_numpy() for c in VALUE_COLUMNS})
    assert {name for name, m in masks.items() if m.any()} == {rule.name}
    assert masks[rule.name].tolist() == [False, True, False]


@RULES
def test_the_quality_stage_counts_and_rejects(rule: QualityRule) -> None:
    bad = stored(BREAKING[rule.name]).drop(columns="flags")
    bad["ts"] = T0 + 60 * np.arange(3)
    result = conform_bars(bad, M1, T0, T0 + 180)
    assert not result.ok
    assert {k for k, v in result.report.rule_violations.items() if v} == {rule.name}
    assert result.report.rule_violations[rule.name] == 1
    assert result.frame["ts"].tolist() == list(
        pd.to_datetime([T0, T0 + 120], unit="s", utc=True).as_unit("ns")
    )
    assert result.rejected == RangeSet([(T0 + 60, T0 + 120)])


def _failed_checks(schema: object, frame: pd.DataFrame) -> set[str]:
    try:
        schema.validate(frame, lazy=True)  # type: ignore[attr-defined]
    except SchemaErrors as exc:
        return {str(c) for c in exc.failure_cases["check"]}
    return set()


@RULES
@pytest.mark.parametrize("schema", ["registry", "model"])
def test_the_pandera_schema_and_the_model_enforce_it(rule: QualityRule, schema: str) -> None:
    """The registry's ``ohlcv_bars`` v1 (from its YAML file) and ``OHLCVBars`` both fail
    the frame on the check the table names for the rule."""
    target = STORED_SCHEMA if schema == "registry" else OHLCVBars.to_schema()
    assert _failed_checks(target, stored()) == set()
    failed = _failed_checks(target, stored(BREAKING[rule.name]))
    assert any(c.startswith(rule.check) for c in failed), failed


@RULES
def test_validate_stored_reports_it(rule: QualityRule) -> None:
    errors, cases = validate_stored(stored(BREAKING[rule.name]))
    assert errors and any(c["check"].startswith(rule.check) for c in cases)


@pytest.mark.parametrize("check", FRAME_CHECKS)
def test_registered_frame_checks_are_the_tables_predicates(check: str) -> None:
    """A frame check passes a row exactly when none of the rules it stands for breaks."""
    rules = rules_of_check(check)
    for rule in QUALITY_TABLE:
        frame = stored(BREAKING[rule.name])
        passed = frame_check(check)(frame).tolist()
        assert passed == [True, rule not in rules, True], (check, rule.name)


@RULES
def test_the_store_refuses_a_frame_that_breaks_it(tmp_path: Path, rule: QualityRule) -> None:
    """A frame that reaches the store by another path than conformance still cannot
    be written; the error names the rule and nothing changes."""
    with LocalStore(tmp_path / "bars.sqlite") as store:
        store.write("demo:A", M1, T0, T0 + 180, stored())
        with pytest.raises(StoreError, match=rule.name):
            store.write("demo:A", M1, T0, T0 + 180, stored(BREAKING[rule.name]))
        kept = store.read("demo:A", M1, T0, T0 + 180)
        pd.testing.assert_frame_equal(kept, stored())
        assert list(kept.columns) == list(STORED_COLUMNS)
