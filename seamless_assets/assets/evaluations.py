"""Check evaluations of many filled partitions at once, one result per partition.

The pandas checks (schema, completeness, quality rules) run on each window's
stored bars as the fill handed them over; the Great Expectations suite runs
once over all the windows (``seamless_assets.checks.gx_bulk``). The targets
(the materialization each evaluation judged) come from one event-log query.

Every evaluation names the materialization it checked
(``target_materialization_data``). Dagster counts a partition's check result
as current only when that target is the partition's latest materialization;
an evaluation without one is stale as soon as the partition has any
materialization, and the UI's check grid shows it as Missing. The caller
yields the partitions' materializations first, so the targets found here
are this run's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

import dagster as dg
import numpy as np
import pandas as pd

from seamless_assets.assets.partition import Filled
from seamless_assets.assets.targets import latest_materializations
from seamless_assets.checks.evaluate import (
    CheckOutcome,
    completeness_outcome,
    quality_outcome,
    schema_outcome,
)
from seamless_assets.checks.gx_bulk import gx_outcomes
from seamless_assets.checks.specs import GX_CHECK, blocking_checks
from seamless_assets.resources import SeamlessResource
from seamless_sdk.bars import epoch_seconds, iso_utc


def partition_outcomes(
    seamless: SeamlessResource, filled: Filled, *, now: float | None = None
) -> list[CheckOutcome]:
    """The schema, completeness and quality outcomes of one window as stored now."""
    key, frame = filled.key, filled.frame
    interval, (start, end) = key.interval, key.window
    edge = min(end, interval.now_edge(now))
    expected = (
        seamless.calendar(key.node_id).expected_bars(interval, start, edge) if start < edge else []
    )
    return [
        schema_outcome(frame, filled.report),
        completeness_outcome(
            epoch_seconds(frame["ts"]),
            expected,
            start,
            edge,
            filled.covered,
            strict=seamless.strict,
        ),
        quality_outcome(frame, filled.report),
    ]


def evaluations(
    seamless: SeamlessResource,
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    filled: Sequence[Filled],
    selected: Collection[dg.AssetCheckKey],
    *,
    now: float | None = None,
    gx_from: Mapping[str, int] | None = None,
) -> Iterator[dg.AssetCheckEvaluation]:
    """The evaluations of the ``selected`` checks for every partition of ``filled``.

    ``gx_from`` (a tail run's) maps a partition to where its previous run's
    checks ended: its Great Expectations check runs on the bars from there on
    (the new ones), and its metadata says so (``gx_checked_from``). The
    other checks always judge the whole window (plain numpy, milliseconds).
    """
    if not filled or not selected:
        return
    names = {k.name for k in selected if k.asset_key == asset_key}
    blocking = blocking_checks(strict=seamless.strict)
    outcomes = [partition_outcomes(seamless, f, now=now) for f in filled]
    if seamless.gx_check and GX_CHECK in names:
        parts = [_gx_part(f, (gx_from or {}).get(str(f.key))) for f in filled]
        gx = gx_outcomes([frame for frame, _ in parts], [window for _, window in parts])
        for (_, (lo, _)), f, g in zip(parts, filled, gx, strict=True):
            if lo != f.key.window[0]:
                g.metadata["gx_checked_from"] = iso_utc(lo)
        outcomes = [[*o, g] for o, g in zip(outcomes, gx, strict=True)]
    targets = latest_materializations(instance, asset_key, [str(f.key) for f in filled])
    for item, partition_outcomes_ in zip(filled, outcomes, strict=True):
        partition = str(item.key)
        for outcome in partition_outcomes_:
            if outcome.name not in names:
                continue
            yield dg.AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=outcome.name,
                passed=outcome.passed,
                metadata={"partition": partition, **outcome.metadata},
                target_materialization_data=targets.get(partition),
                severity=dg.AssetCheckSeverity(outcome.severity),
                description=outcome.description,
                blocking=outcome.name in blocking,
                partition=partition,
            )


def _gx_part(filled: Filled, since: int | None) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The bars and window the GX check of ``filled`` validates: the whole window,
    or the bars from ``since`` (or from the first range this fill fetched, if
    earlier: bars it re-wrote) on when that leaves some (a tail's new bars)."""
    start, end = filled.key.window
    frame = filled.frame
    fetched = filled.result.fetched if filled.result is not None else None
    if since is not None and fetched:
        since = min(since, int(fetched.start))  # type: ignore[arg-type]
    if since is None or not start < since < end:
        return frame, (start, end)
    ts = epoch_seconds(frame["ts"])
    first = int(np.searchsorted(ts, since))
    if first >= len(frame):
        return frame, (start, end)  # nothing new to judge: judge the window, never an empty frame
    return frame.iloc[first:].reset_index(drop=True), (since, end)
