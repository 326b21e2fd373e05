"""The request sensor: the SDK's backfill requests become partition runs.

Every tick reads the open rows of the request table and the runs already
made for them (found by their ``seamless/request`` tag), then:

* a pending row with a run of its own is marked launched (or finished);
* a pending row whose window some other run is already filling (a UI
  backfill, a tail run) joins that run instead of asking for another;
* any other pending row becomes one ``RunRequest`` whose run key is the row
  and its attempt, so Dagster never launches it twice, whatever the ticks;
  its tags carry the fill policy stored with the row (``seamless/fill.*``);
* a launched row whose run finished is marked done or failed, so a later
  request for the same window revives it.

Nodes the SDK asked for but Dagster does not know yet are added to the
``nodes`` dynamic partitions in the same result.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (context type, resources) at definition time.
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.runs import FINISHED, in_flight_runs_of, seamless_sensor
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    REQUEST_TAG,
    BackfillRequest,
    RequestState,
    asset_name,
    job_name,
    listed_partitions,
    run_covers_partition,
    run_tags_for_request,
)
from seamless_sdk.intervals import Interval, parse_interval, window_floor
from seamless_sdk.request import validate_node_id

SENSOR_NAME = "seamless_request_sensor"
MAX_RUNS_PER_TICK = 200
STALE_LAUNCH_S = 300.0


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the plan needs to know of a run."""

    run_id: str
    status: str
    tags: Mapping[str, str]
    asset: str | None = None
    listed: frozenset[str] | None = None
    """The partitions its config lists (a range run fills only those)."""


@dataclass
class RequestPlan:
    """The outcome of one tick, before anything is written."""

    launch: list[BackfillRequest] = field(default_factory=list)
    transitions: list[tuple[BackfillRequest, RequestState, str | None]] = field(
        default_factory=list
    )
    new_nodes: list[str] = field(default_factory=list)


def plan_requests(
    rows: Sequence[BackfillRequest],
    runs: Mapping[str, RunInfo],
    in_flight: Sequence[RunInfo],
    known_nodes: Sequence[str],
    intervals: Sequence[Interval],
    partition_start: int,
    *,
    now: float,
    stale_s: float = STALE_LAUNCH_S,
    limit: int = MAX_RUNS_PER_TICK,
) -> RequestPlan:
    """Decide, for every open row, whether to launch, join, finish or fail it.

    ``runs`` maps both a row's ``<id>:<attempt>`` (its own run, by tag) and a
    run id (the run a launched row joined) to that run. A row marked launched
    whose run never appeared within ``stale_s`` (its launcher died) is
    launched here; its run key still makes that launch the only one.
    """
    plan = RequestPlan()
    assets = {asset_name(iv) for iv in intervals}
    order = list(known_nodes)
    for row in rows:
        run = runs.get(row.key) or (runs.get(row.run_id) if row.run_id else None)
        if run is not None:
            if run.status in FINISHED:
                state: RequestState = "done" if run.status == "SUCCESS" else "failed"
                plan.transitions.append((row, state, run.run_id))
            elif row.state == "pending":
                plan.transitions.append((row, "launched", run.run_id))
            continue
        if row.state == "launched" and now - row.updated_at < stale_s:
            continue  # its run is on its way
        iv = parse_interval(row.interval)
        name = asset_name(iv)
        first = window_floor(partition_start, iv.partition_unit)
        # The last partition is the window still open now (Dagster's own bound):
        # a row past it (another host's clock, another writer) has no partition.
        last = window_floor(int(now), iv.partition_unit)
        if name not in assets or not first <= row.window_start <= last:
            plan.transitions.append((row, "failed", None))  # no partition can serve it
            continue
        pk = row.partition
        joined = next(
            (
                r
                for r in in_flight
                if r.asset == name and run_covers_partition(r.tags, pk, order, r.listed)
            ),
            None,
        )
        if joined is not None:
            plan.transitions.append((row, "launched", joined.run_id))
            continue
        if row.node_id not in order:
            order.append(validate_node_id(row.node_id))
            plan.new_nodes.append(row.node_id)
        if len(plan.launch) < limit:
            plan.launch.append(row)
    return plan


def run_request_for(row: BackfillRequest) -> dg.RunRequest:
    """The single-partition run that serves a request row, with its fill policy."""
    return dg.RunRequest(
        run_key=row.run_key,
        job_name=job_name(row.parsed_interval),
        partition_key=str(row.partition),
        tags=run_tags_for_request(row),
    )


def build_request_sensor(
    intervals: Sequence[Interval], partition_start: int, *, interval_s: int, jobs: Sequence[object]
) -> dg.SensorDefinition:
    """The sensor over the request table of the ``seamless`` resource."""

    @seamless_sensor(
        SENSOR_NAME,
        interval_s=interval_s,
        jobs=jobs,
        description="Turns the SDK's backfill requests into partition runs, one per window.",
    )
    def _sensor(context: dg.SensorEvaluationContext, seamless: SeamlessResource) -> dg.SensorResult:
        instance = context.instance
        with seamless.open_requests() as table:
            rows = table.requests(("pending", "launched"))
            if not rows:
                return dg.SensorResult(skip_reason="no open backfill requests")
            own = instance.get_runs(dg.RunsFilter(tags={REQUEST_TAG: [r.key for r in rows]}))
            joined_ids = [r.run_id for r in rows if r.run_id]
            joined = instance.get_runs(dg.RunsFilter(run_ids=joined_ids)) if joined_ids else []
            runs = {
                **{r.run_id: _info(r) for r in joined},
                **{r.tags[REQUEST_TAG]: _info(r) for r in own},
            }
            plan = plan_requests(
                rows,
                runs,
                [_info(r) for r in in_flight_runs_of(instance)],
                instance.get_dynamic_partitions(NODES_PARTITIONS),
                intervals,
                partition_start,
                now=time.time(),
            )
            for row, state, run_id in plan.transitions:
                table.transition(row, state, run_id)
        context.log.info(
            f"{len(plan.launch)} run(s) for {len(rows)} open request(s); "
            f"{len(plan.transitions)} row(s) moved on"
        )
        return dg.SensorResult(
            run_requests=[run_request_for(r) for r in plan.launch],
            dynamic_partitions_requests=(
                [dg.AddDynamicPartitionsRequest(NODES_PARTITIONS, plan.new_nodes)]
                if plan.new_nodes
                else []
            ),
        )

    return _sensor


def _info(run: dg.DagsterRun) -> RunInfo:
    selection = run.asset_selection or ()
    asset = next((k.path[-1] for k in selection), None)
    if asset is None and run.job_name.endswith("_job"):
        asset = run.job_name.removesuffix("_job")
    return RunInfo(
        run.run_id, run.status.value, dict(run.tags), asset, listed_partitions(run.run_config)
    )
