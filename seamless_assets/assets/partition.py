"""One partition of a bar asset: fill the window, then report it and check it.

The asset function stays a loop over its partition keys; this module turns
one key into a window, calls the SDK's ``fill_window`` (fetch → conform →
write, atomic, idempotent, a no-op without fetching when the window is
already covered) and yields the Dagster events of the outcome: the
partition's ``AssetMaterialization`` (its data version is the window's
content fingerprint) and one ``AssetCheckEvaluation`` per check.

Every evaluation names the materialization it checked
(``target_materialization_data``). Dagster counts a partition's check result
as current only when that target is the partition's latest materialization;
an evaluation without one is stale as soon as the partition has any
materialization, and the UI's check grid shows it as Missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from seamless_assets.assets.targets import latest_materialization
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
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.conformance import ConformanceReport, write_report
from seamless_sdk.errors import ConformanceError
from seamless_sdk.stores.base import BarStore

PartitionEvent = dg.AssetMaterialization | dg.AssetCheckEvaluation


def fill_partition(
    seamless: SeamlessResource,
    store: BarStore,
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    key: PartitionKey,
    *,
    policy: FillPolicy,
    now: float | None = None,
) -> Iterator[PartitionEvent]:
    """Fill one partition window with ``policy`` and yield its materialization
    and check results.

    A non-conformant fetch writes nothing (``ConformanceError``): the window
    gets failed checks and no materialization. ``FetchError`` propagates, so
    Dagster's RetryPolicy retries the run. ``instance`` is where the checks
    look up the materialization they target.
    """
    node_id, (start, end) = key.node_id, key.window
    try:
        result = fill_window(
            store,
            seamless.get_fetcher(),
            node_id,
            key.interval,
            start,
            end,
            now=now,
            policy=policy,
            request_id=str(key),
        )
    except ConformanceError as err:
        _write_report(seamless, err.report, key)
        yield from _evaluations(seamless, store, instance, asset_key, key, err.report, now)
        return
    report_path = _write_report(seamless, result.report, key)
    frame_rows = len(store.read(node_id, key.interval, start, end))
    covered = store.coverage(node_id, key.interval).clip(start, end)
    yield dg.AssetMaterialization(
        asset_key=asset_key,
        partition=str(key),
        description=result.report.summary,
        metadata={
            **fill_metadata(result, frame_rows, covered),
            **({"report_path": dg.MetadataValue.path(str(report_path))} if report_path else {}),
        },
        tags=data_version_tags(result.fingerprint),
    )
    # Dagster has stored the materialization by the time this generator
    # resumes, so the checks below find it as the partition's latest.
    yield from _evaluations(seamless, store, instance, asset_key, key, result.report, now)


def check_partition(
    seamless: SeamlessResource,
    store: BarStore,
    key: PartitionKey,
    report: ConformanceReport | None,
    *,
    now: float | None = None,
) -> list[CheckOutcome]:
    """The check outcomes of a window as it is stored now."""
    node_id, interval, (start, end) = key.node_id, key.interval, key.window
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
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    key: PartitionKey,
    report: ConformanceReport | None,
    now: float | None,
) -> Iterator[dg.AssetCheckEvaluation]:
    # The checks judge the window as stored now: that is the partition's latest
    # materialization (this run's, or an earlier one when this fill wrote
    # nothing), or none at all.
    target = latest_materialization(instance, asset_key, str(key))
    for outcome in check_partition(seamless, store, key, report, now=now):
        yield dg.AssetCheckEvaluation(
            asset_key=asset_key,
            check_name=outcome.name,
            passed=outcome.passed,
            metadata={"partition": str(key), **outcome.metadata},
            target_materialization_data=target,
            severity=dg.AssetCheckSeverity(outcome.severity),
            description=outcome.description,
            blocking=outcome.name in BLOCKING,
            partition=str(key),
        )


def _write_report(
    seamless: SeamlessResource, report: ConformanceReport, key: PartitionKey
) -> Path | None:
    """The window's conformance report as JSON under the configured directory."""
    if not seamless.reports_dir:
        return None
    return write_report(report, seamless.reports_dir, key.node_id, key.interval, *key.window)
