"""The Great Expectations check: its metadata and its verdict on a window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seamless_assets.checks.expectations import run_suite
from seamless_assets.checks.gx_check import gx_metadata, gx_outcome
from seamless_assets.checks.specs import GX_CHECK
from seamless_sdk.conformance import conform_bars

T0 = 1_710_028_800


@pytest.fixture(scope="module")
def good() -> pd.DataFrame:
    source = pd.DataFrame(
        {"ts": T0 + 60 * np.arange(10), "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}
    ).assign(volume=4.0)
    return conform_bars(source, "1m", T0, T0 + 3600).frame


def test_metadata_of_a_failed_run(good: pd.DataFrame) -> None:
    """Counts and one entry per failed expectation, ready for the Dagster UI."""
    meta = gx_metadata(run_suite(good.assign(volume=-1.0)))
    assert meta["suite"] == "ohlcv_bars.v1" and meta["rows_checked"] == 10
    assert meta["unsuccessful_expectations"] == 1
    assert meta["failed"][0]["rule"] == "greater_than_or_equal_to"
    assert meta["failed"][0]["unexpected_count"] == 10


def test_outcome_passes_good_bars_and_warns_on_bad_ones(good: pd.DataFrame) -> None:
    """The check's verdict on a window: a warning with GX's counts, never blocking."""
    passed = gx_outcome(good)
    assert passed.name == GX_CHECK and passed.passed and passed.severity == "WARN"
    assert passed.metadata["evaluated_expectations"] > 20
    failed = gx_outcome(good.assign(volume=-1.0))
    assert not failed.passed and failed.metadata["unsuccessful_expectations"] == 1
    assert "greater_than_or_equal_to" in failed.description
