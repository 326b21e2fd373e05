"""The registry's rules as a Great Expectations suite, run on a good and a bad frame."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from seamless_assets.checks.expectations import GXResult, build_suite, run_suite
from seamless_sdk.conformance import QUALITY_TABLE, QualityRule, conform_bars, default_registry
from tests.unit.conformance.test_rules_table import break_row

T0 = 1_710_028_800


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    price = 100.0 + np.arange(30) * 0.1
    source = pd.DataFrame(
        {
            "ts": T0 + 60 * np.arange(30),
            "open": price,
            "high": price + 0.2,
            "low": price - 0.2,
            "close": price + 0.1,
            "volume": 5.0,
        }
    )
    return conform_bars(source, "1m", T0, T0 + 3600).frame


def failed_rules(result: GXResult) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in result.failed:
        out[r["rule"]] = out.get(r["rule"], 0) + int(r["unexpected_count"] or 0)
    return out


def test_suite_mirrors_the_registry() -> None:
    """One expectation per column fact and per check, tagged with the rule it stands for."""
    suite = build_suite("ohlcv_bars", "1")
    assert suite.name == "ohlcv_bars.v1"
    assert suite.meta["schema_fingerprint"] == default_registry().get("ohlcv_bars", "1").fingerprint
    kinds = [type(e).__name__ for e in suite.expectations]
    assert kinds.count("ExpectColumnValuesToNotBeNull") == 7
    assert kinds.count("ExpectColumnPairValuesAToBeGreaterThanB") == 4
    assert "ExpectTableColumnsToMatchOrderedList" in kinds
    assert {e.meta["rule"] for e in suite.expectations} == {
        "columns", "dtype", "not_null", "unique", "ascending", "greater_than_or_equal_to",
        "high_ge_max_open_close", "low_le_min_open_close", "finite_values",
    }  # fmt: skip
    # v2 has an optional column: columns are checked one by one instead of as a list.
    v2 = [type(e).__name__ for e in build_suite("ohlcv_bars", "latest").expectations]
    assert "ExpectTableColumnsToMatchOrderedList" not in v2 and "ExpectColumnToExist" in v2
    trades = build_suite("trades")
    assert trades.name == "trades.v1"
    assert not any(e.meta["rule"] == "unique" for e in trades.expectations)  # trades repeat


def test_good_frame_passes(good: pd.DataFrame) -> None:
    result = run_suite(good)
    assert result.success and result.failed == []
    assert result.statistics["unsuccessful_expectations"] == 0
    assert result.rows == 30 and result.suite == "ohlcv_bars.v1"


def test_bad_frame_fails_with_each_broken_rule_named(good: pd.DataFrame) -> None:
    """Each kind of damage shows up under its rule, with a count and sample values."""
    bad = good.copy()
    bad.loc[3, "high"] = bad.loc[3, "open"] - 1  # below open and close
    bad.loc[5, "volume"] = -2.0
    bad.loc[7, "close"] = np.inf
    bad.loc[9, "low"] = np.nan
    bad = pd.concat([bad, bad.iloc[[0]]], ignore_index=True)  # a repeated, out-of-order ts
    result = run_suite(bad)
    assert not result.success
    assert failed_rules(result) == {
        # row 3 against open and close; row 7's infinite close is above its high
        "high_ge_max_open_close": 3,
        # GX counts a pair with one NaN as unexpected: row 9 against open and close
        "low_le_min_open_close": 2,
        "greater_than_or_equal_to": 1,
        "finite_values": 1,
        "not_null": 1,
        "unique": 2,
        "ascending": 1,
    }
    volume = next(r for r in result.failed if r["rule"] == "greater_than_or_equal_to")
    assert volume["partial_unexpected"] == [-2.0]
    json.dumps(result.to_dict(), allow_nan=False)


def test_wrong_dtypes_and_columns_fail(good: pd.DataFrame) -> None:
    """A flags column of the wrong width and an extra column break the contract."""
    result = run_suite(good.assign(flags=good["flags"].astype("int64"), extra=1))
    assert {r["rule"] for r in result.failed} == {"dtype", "columns"}


def test_trades_suite_runs_on_a_trades_frame() -> None:
    ticks = pd.DataFrame(
        {
            "ts": pd.to_datetime([T0, T0, T0 + 1], unit="s", utc=True).as_unit("ns"),
            "price": [100.0, 100.0, 101.0],
            "size": [1.0, 1.0, -3.0],
        }
    )
    result = run_suite(ticks, "trades", "1")
    assert failed_rules(result) == {"greater_than_or_equal_to": 1}


def test_great_expectations_is_not_imported_by_the_sdk() -> None:
    """It takes seconds to import: `import seamless_sdk` and the pipeline must not pay for it."""
    code = (
        "import sys, seamless_sdk, seamless_sdk.conformance, seamless_assets.checks.expectations;"
        "from seamless_sdk import SeamlessDataProvider;"
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("rule", QUALITY_TABLE, ids=lambda r: r.name)
def test_the_suite_enforces_every_rule_of_the_table(good: pd.DataFrame, rule: QualityRule) -> None:
    """The suite is built from the rules table: a bar breaking a rule fails the
    expectations of the check that stands for it (GX sees NaN as null, so the NaN
    rules fail the not-null expectations, which the table says cover them)."""
    bad = break_row(good, 3, rule.name)
    result = run_suite(bad)
    assert not result.success
    columns = (rule.check_column,) if rule.check_column else rule.columns
    expected = rule.check if rule.expectations(columns) else "not_null"
    assert expected in failed_rules(result), (rule.name, failed_rules(result))
