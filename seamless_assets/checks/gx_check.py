"""A Great Expectations asset check: the registry's suite run on a stored partition.

The three built-in checks (``specs.py``) run inside the materialization.
This one runs on its own, after the fact, on what the store holds now: it
loads the partition's bars, runs the Great Expectations suite built from the
registry schema (``seamless_sdk.conformance.expectations``) and reports
GX's statistics and one summary per failed expectation in the check's
metadata. It warns by default and does not block: the blocking checks run
at materialization time already.

:func:`gx_metadata` is pure (tested without Dagster); :func:`build_gx_checks`
is the thin Dagster adapter. Great Expectations is imported when the check
first runs, never when the code location loads.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# function's annotations (the context type) at definition time.
from collections.abc import Callable, Set
from typing import Any

import dagster as dg
import pandas as pd

from seamless_assets.checks.evaluate import MAX_CASES
from seamless_sdk.backfill.dagster import split_partition_key
from seamless_sdk.conformance.expectations import GXResult, run_suite
from seamless_sdk.intervals import Interval

GX_CHECK = "gx_expectations"
"""The check's name on every bar asset it is attached to."""

LoadBars = Callable[[dg.AssetCheckExecutionContext], pd.DataFrame]


def gx_metadata(result: GXResult) -> dict[str, Any]:
    """Check metadata of one suite run: plain JSON-ready values."""
    stats = result.statistics
    return {
        "suite": result.suite,
        "schema_fingerprint": result.schema_fingerprint,
        "rows_checked": result.rows,
        "evaluated_expectations": int(stats.get("evaluated_expectations", 0)),
        "unsuccessful_expectations": int(stats.get("unsuccessful_expectations", 0)),
        "success_percent": float(stats.get("success_percent") or 0.0),
        "failed": [
            {
                k: r[k]
                for k in ("expectation", "rule", "kwargs", "unexpected_count", "partial_unexpected")
            }
            for r in result.failed[:MAX_CASES]
        ],
    }


def gx_description(result: GXResult) -> str:
    """One line for the check result."""
    if result.success:
        return f"{result.rows} bars pass all {len(result.results)} expectations of {result.suite}"
    rules = sorted({str(r["rule"]) for r in result.failed})
    return (
        f"{len(result.failed)} of {len(result.results)} expectations of {result.suite} failed "
        f"({', '.join(rules)})"
    )


def build_gx_checks(
    asset: dg.AssetsDefinition | dg.AssetKey | str,
    load_bars: LoadBars,
    *,
    name: str = GX_CHECK,
    schema_name: str = "ohlcv_bars",
    version: str = "1",
    partitions_def: dg.PartitionsDefinition | None = None,
    blocking: bool = False,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    required_resource_keys: Set[str] | None = None,
) -> dg.AssetChecksDefinition:
    """The GX suite of ``schema_name`` v``version`` as an asset check on ``asset``.

    ``load_bars(context)`` returns the bars to check (for a partitioned asset,
    those of ``context.partition_key``; :func:`partition_bars_loader` reads
    them from the ``seamless`` resource's store). Given an ``AssetsDefinition``
    the check takes its partitions definition unless ``partitions_def`` says
    otherwise, so results are kept per partition.
    """
    key = asset.key if isinstance(asset, dg.AssetsDefinition) else dg.AssetKey.from_coercible(asset)
    if partitions_def is None and isinstance(asset, dg.AssetsDefinition):
        partitions_def = asset.partitions_def

    @dg.asset_check(
        asset=key,
        name=name,
        description=(
            f"The stored bars pass the Great Expectations suite built from the registry "
            f"schema {schema_name} v{version} (columns, dtypes, nulls, unique ascending ts, "
            "volume >= 0, high/low against open/close, finite values)."
        ),
        blocking=blocking,
        partitions_def=partitions_def,
        required_resource_keys=set(required_resource_keys or ()),
    )
    def _gx_check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        result = run_suite(load_bars(context), schema_name, version)
        metadata = gx_metadata(result)
        if context.has_partition_key:
            metadata["partition"] = context.partition_key
        return dg.AssetCheckResult(
            passed=result.success,
            severity=severity,
            description=gx_description(result),
            metadata=metadata,
        )

    return _gx_check


def partition_bars_loader(interval: Interval) -> LoadBars:
    """A ``load_bars`` that reads the check's partition window from the ``seamless``
    resource's store (pass ``required_resource_keys={"seamless"}``)."""

    def load(context: dg.AssetCheckExecutionContext) -> pd.DataFrame:
        node_id, start, end = split_partition_key(interval, context.partition_key)
        with context.resources.seamless.open_store() as store:
            frame: pd.DataFrame = store.read(node_id, interval, start, end)
        return frame

    return load
