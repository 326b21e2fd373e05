"""The tail sensor: every node's newest windows stay filled up to the last closed bar.

Each tick looks at the newest ``tail_windows`` partition windows of every
registered node and asks for the ones whose closed bars are not all covered
yet, and only where the node's calendar expects a bar in the gap (a closed
exchange needs no run). All nodes that need one window share one run: its
partition range spans the first to the last of them in Dagster's node order,
and its run config lists the partitions it fills (``BarsRunConfig``), so the
nodes in between that are already filled cost nothing. A tick therefore
starts at most ``intervals × tail_windows`` runs whatever the node count, and
none when nothing is new. While a tail run of an asset is still in flight the
sensor waits for it rather than piling runs up.

A partition is recorded (materialization and checks) at most every
``sensors.tail_record_every_s``: the nodes due for a record go to the asset's
run, the others to the quiet fill job (``assets/tail_fill.py``), which only
writes their new bars and costs a handful of run events in all, not one
planned event per partition. So a tick starts at most two runs per asset
and window.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (context type, resources) at definition time.
import time
from collections.abc import Callable, Sequence

import dagster as dg
import numpy as np

from seamless_assets.assets.tail_fill import tail_fill_name
from seamless_assets.assets.targets import latest_records
from seamless_assets.partitions import contiguous_groups
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.runs import in_flight_runs_of, seamless_sensor
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    SOURCE_TAG,
    PartitionKey,
    asset_name,
    job_name,
    partition_tag_value,
    partition_windows_touching,
)
from seamless_sdk.calendars import Calendar
from seamless_sdk.intervals import Interval, window_floor
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

SENSOR_NAME = "seamless_tail_sensor"

TailPlan = dict[int, list[str]]
"""Window start → the nodes (in Dagster's node order) that need it filled."""


def tail_windows(
    interval: Interval, partition_start: int, count: int, now: float | None = None
) -> list[tuple[int, int]]:
    """The newest ``count`` partition windows that hold a closed bar (none for 0)."""
    if count <= 0:
        return []
    edge = interval.now_edge(now)
    unit = interval.partition_unit
    first = window_floor(edge - 1, unit)
    for _ in range(max(0, count - 1)):
        first = window_floor(first - 1, unit)
    first = max(first, window_floor(partition_start, unit))
    return partition_windows_touching(interval, RangeSet.span(first, edge), now=now)


def plan_tail(
    store: BarStore,
    interval: Interval,
    nodes: Sequence[str],
    calendar_of: Callable[[str], Calendar],
    partition_start: int,
    *,
    count: int = 2,
    now: float | None = None,
) -> TailPlan:
    """Which nodes need which of the newest windows (pure but for store reads)."""
    edge = interval.now_edge(now)
    windows = tail_windows(interval, partition_start, count, now)
    plan: TailPlan = {}
    for node in nodes:
        coverage = store.coverage(node, interval)
        for ws, we in windows:
            gaps = coverage.missing(ws, min(we, edge))
            if gaps and _expects_bars(calendar_of(node), interval, gaps):
                plan.setdefault(ws, []).append(node)
    return plan


def _expects_bars(calendar: Calendar, interval: Interval, gaps: RangeSet) -> bool:
    return any(len(np.asarray(calendar.expected_bars(interval, s, e))) for s, e in gaps)


def tail_run_requests(
    interval: Interval, plan: TailPlan, order: Sequence[str], *, edge: int
) -> list[dg.RunRequest]:
    """One run per window: a partition range over the nodes that need it, whose
    run config lists exactly their partitions; run keys name the now edge.

    The range spans the nodes in between too, and if the run fails Dagster
    marks all of them failed, filled or not, until their next record: the
    price of one run per window whatever the node count (``seamless
    backfill``'s runs, which a person watches, are exact ranges instead)."""
    name = asset_name(interval)
    out = []
    for ws, needed in sorted(plan.items()):
        nodes = [n for group in contiguous_groups(needed, order) for n in group]
        if not nodes:
            continue
        keys = [PartitionKey(n, interval, ws) for n in nodes]
        first, last = keys[0], keys[-1]
        tags = {SOURCE_TAG: "tail"}
        if len(keys) == 1:
            tags[PARTITION_TAG] = partition_tag_value(first)
            pk: str | None = str(first)
        else:
            tags[RANGE_START_TAG] = str(first)
            tags[RANGE_END_TAG] = str(last)
            pk = None
        out.append(
            dg.RunRequest(
                run_key=f"tail|{name}|{first.node_id}..{last.node_id}|{first.window_key}|{edge}",
                job_name=job_name(interval),
                partition_key=pk,
                tags=tags,
                run_config={"ops": {name: {"config": {"partitions": [str(k) for k in keys]}}}},
            )
        )
    return out


def split_recorded(
    instance: dg.DagsterInstance,
    interval: Interval,
    plan: TailPlan,
    every_s: int,
    *,
    now: float | None = None,
) -> tuple[TailPlan, TailPlan]:
    """``plan`` split into the partitions due for a record (never materialized, or
    last materialized ``every_s`` seconds ago or more) and the quiet rest, which
    only need their new bars written (one event-log query per window)."""
    if every_s <= 0:
        return plan, {}
    since = (time.time() if now is None else now) - every_s
    key = dg.AssetKey(asset_name(interval))
    record: TailPlan = {}
    quiet: TailPlan = {}
    for ws, nodes in plan.items():
        names = [str(PartitionKey(n, interval, ws)) for n in nodes]
        latest = latest_records(instance, key, names)
        for node, name in zip(nodes, names, strict=True):
            last = latest.get(name)
            due = last is None or last.timestamp <= since
            (record if due else quiet).setdefault(ws, []).append(node)
    return record, quiet


def tail_fill_requests(
    interval: Interval, plan: TailPlan, order: Sequence[str], *, edge: int
) -> list[dg.RunRequest]:
    """One quiet fill run per window (``bars_<interval>_tail_fill``): its config
    lists the partitions; no partition range, so Dagster plans no partition."""
    name = tail_fill_name(interval)
    position = {n: i for i, n in enumerate(order)}
    out = []
    for ws, needed in sorted(plan.items()):
        nodes = sorted((n for n in needed if n in position), key=position.__getitem__)
        if not nodes:
            continue
        keys = [PartitionKey(n, interval, ws) for n in nodes]
        first, last = keys[0], keys[-1]
        out.append(
            dg.RunRequest(
                run_key=f"tail-fill|{name}|{first.node_id}..{last.node_id}|{first.window_key}|{edge}",
                job_name=name,
                tags={SOURCE_TAG: "tail"},
                run_config={
                    "ops": {f"{name}_op": {"config": {"partitions": [str(k) for k in keys]}}}
                },
            )
        )
    return out


def build_tail_sensor(
    intervals: Sequence[Interval],
    partition_start: int,
    *,
    interval_s: int,
    count: int,
    jobs: Sequence[object],
) -> dg.SensorDefinition:
    """The tail sensor over every configured interval."""

    @seamless_sensor(
        SENSOR_NAME,
        interval_s=interval_s,
        jobs=jobs,
        description="Keeps every node's newest partition windows filled up to the last closed bar.",
    )
    def _sensor(context: dg.SensorEvaluationContext, seamless: SeamlessResource) -> dg.SensorResult:
        order = list(context.instance.get_dynamic_partitions(NODES_PARTITIONS))
        if not order:
            return dg.SensorResult(skip_reason="no nodes registered yet")
        requests: list[dg.RunRequest] = []
        busy = {r.job_name for r in in_flight_runs_of(context.instance, tags={SOURCE_TAG: "tail"})}
        with seamless.open_store() as store:
            for iv in intervals:
                if job_name(iv) in busy or tail_fill_name(iv) in busy:
                    continue  # the last tick's run is still filling this asset
                plan = plan_tail(store, iv, order, seamless.calendar, partition_start, count=count)
                record, quiet = split_recorded(
                    context.instance, iv, plan, seamless.tail_record_every_s
                )
                requests += tail_run_requests(iv, record, order, edge=iv.now_edge())
                requests += tail_fill_requests(iv, quiet, order, edge=iv.now_edge())
        if not requests:
            return dg.SensorResult(skip_reason="every node's newest windows are filled")
        return dg.SensorResult(run_requests=requests)

    return _sensor
