"""The Great Expectations asset check: metadata, and a real run per partition."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from seamless_assets.checks.gx_check import GX_CHECK, build_gx_checks, gx_metadata
from seamless_sdk.conformance import conform_bars
from seamless_sdk.conformance.expectations import run_suite

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


def test_direct_invocation(good: pd.DataFrame) -> None:
    """Called with a built context, the check loads the bars and passes them."""
    check = build_gx_checks("bars_1m", lambda context: good)
    result = check(dg.build_asset_check_context())
    assert result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["evaluated_expectations"].value > 20


def test_runs_per_partition_of_a_partitioned_asset(good: pd.DataFrame) -> None:
    """Materialized with its asset, the check sees the partition key and records its verdict."""
    partitions = dg.StaticPartitionsDefinition(["demo:A|2024-03", "demo:B|2024-03"])

    @dg.asset(partitions_def=partitions)
    def bars_1m() -> None:
        return None

    seen: list[str] = []

    def load(context: dg.AssetCheckExecutionContext) -> pd.DataFrame:
        seen.append(context.partition_key)
        return good.assign(volume=-1.0) if context.partition_key.startswith("demo:B") else good

    check = build_gx_checks(bars_1m, load)
    for key, passed in (("demo:A|2024-03", True), ("demo:B|2024-03", False)):
        run = dg.materialize([bars_1m, check], partition_key=key)
        [evaluation] = run.get_asset_check_evaluations()
        assert evaluation.check_name == GX_CHECK and evaluation.passed is passed
        assert evaluation.partition == key
        assert evaluation.metadata["partition"].value == key
    assert seen == ["demo:A|2024-03", "demo:B|2024-03"]
