"""One partition of a bar asset: fill the window, then report it and check it.

The asset function stays a loop over its partition keys; this module turns
one key into a window, calls the SDK's ``fill_window`` (fetch → conform →
write, atomic, idempotent, a no-op without fetching when the window is
already covered) and yields the Dagster events of the outcome: the
partition's ``AssetMaterialization`` (its data version is the window's
content fingerprint) and one ``AssetCheckEvaluation`` per check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from seamless_assets.checks.evaluate import (
    CheckOutcome,
    completeness_outcome,
    quality_outcome,
    schema_outcome,
)
from seamless_assets.checks.gx_check import gx_outcome
from seamless_assets.checks.specs import BLOCKING
from seamless_assets.metadata import data_version_tags, fill_metadata
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import split_partition_key
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.conformance import ConformanceReport, write_report
from seamless_sdk.errors import ConformanceError
from seamless_sdk.intervals import Interval
from seamless_sdk.stores.base import BarStore

PartitionEvent = dg.AssetMaterialization | dg.AssetCheckEvaluation


def fill_partition(
    seamless: SeamlessResource,
    store: BarStore,
    asset_key: dg.AssetKey,
    interval: Interval,
    partition_key: str,
    *,
    now: float | None = None,
) -> Iterator[PartitionEvent]:
    """Fill one partition window and yield its materialization and check results.

    A non-conformant fetch writes nothing (``ConformanceError``): the window
    gets failed checks and no materialization. ``FetchError`` propagates, so
    Dagster's RetryPolicy retries the run.
    """
    node_id, start, end = split_partition_key(interval, partition_key)
    try:
        result = fill_window(
            store,
            seamless.get_fetcher(),
            node_id,
            interval,
            start,
            end,
            now=now,
            policy=seamless.fill_policy(),
            request_id=partition_key,
        )
    except ConformanceError as err:
        _write_report(seamless, err.report, node_id, interval, start, end)
        yield from _evaluations(
            seamless, store, asset_key, interval, partition_key, err.report, now
        )
        return
    report_path = _write_report(seamless, result.report, node_id, interval, start, end)
    frame_rows = len(store.read(node_id, interval, start, end))
    covered = store.coverage(node_id, interval).clip(start, end)
    yield dg.AssetMaterialization(
        asset_key=asset_key,
        partition=partition_key,
        description=result.report.summary,
        metadata={
            **fill_metadata(result, frame_rows, covered),
            **({"report_path": dg.MetadataValue.path(str(report_path))} if report_path else {}),
        },
        tags=data_version_tags(result.fingerprint),
    )
    yield from _evaluations(seamless, store, asset_key, interval, partition_key, result.report, now)


def check_partition(
    seamless: SeamlessResource,
    store: BarStore,
    interval: Interval,
    partition_key: str,
    report: ConformanceReport | None,
    *,
    now: float | None = None,
) -> list[CheckOutcome]:
    """The check outcomes of a window as it is stored now."""
    node_id, start, end = split_partition_key(interval, partition_key)
    frame = store.read(node_id, interval, start, end)
    edge = min(end, interval.now_edge(now))
    expected = (
        seamless.calendar(node_id).expected_bars(interval, start, edge) if start < edge else []
    )
    covered = store.coverage(node_id, interval).clip(start, end)
    outcomes = [
        schema_outcome(frame, report),
        completeness_outcome(epoch_seconds(frame["ts"]), expected, start, edge, covered),
        quality_outcome(frame, report),
    ]
    return [*outcomes, gx_outcome(frame)] if seamless.gx_check else outcomes


def _evaluations(
    seamless: SeamlessResource,
    store: BarStore,
    asset_key: dg.AssetKey,
    interval: Interval,
    partition_key: str,
    report: ConformanceReport | None,
    now: float | None,
) -> Iterator[dg.AssetCheckEvaluation]:
    for outcome in check_partition(seamless, store, interval, partition_key, report, now=now):
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=outcome.name,
            passed=outcome.passed,
            metadata={"partition": partition_key, **outcome.metadata},
            severity=dg.AssetCheckSeverity(outcome.severity),
            description=outcome.description,
            blocking=outcome.name in BLOCKING,
            partition=partition_key,
        )


def _write_report(
    seamless: SeamlessResource,
    report: ConformanceReport,
    node_id: str,
    interval: Interval,
    start: int,
    end: int,
) -> Path | None:
    """The window's conformance report as JSON under the configured directory."""
    if not seamless.reports_dir:
        return None
    return write_report(report, seamless.reports_dir, node_id, interval, start, end)
