"""Reconciliation: Dagster's materialized partitions follow the store's coverage.

Both directions, per bar asset, over closed windows:

* covered in the store but not materialized in Dagster (the SDK filled it in
  process and nobody reported it, or the instance is new): the sensor reports
  a runless materialization with the window's metadata and data version;
* materialized in Dagster but no longer covered in the store (the store file
  was replaced, coverage was removed): the sensor asks for a run that fills
  the window again. Its run key names the partition's latest
  materialization, so each loss is repaired once, not every tick.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (context type, resources) at definition time.
from collections.abc import Sequence

import dagster as dg

from seamless_assets.coverage import coverage_event, find_drift
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.runs import seamless_sensor
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    PARTITION_TAG,
    SOURCE_TAG,
    PartitionKey,
    asset_name,
    job_name,
    partition_tag_value,
)
from seamless_sdk.intervals import Interval

SENSOR_NAME = "seamless_reconcile_sensor"
MAX_EVENTS_PER_TICK = 500
MAX_RUNS_PER_TICK = 100


def repair_request(key: PartitionKey, storage_id: int | None) -> dg.RunRequest:
    """The run that refills a lost partition window."""
    tag = partition_tag_value(key)
    return dg.RunRequest(
        run_key=f"repair|{tag}|{storage_id}",
        job_name=job_name(key.interval),
        partition_key=str(key),
        tags={PARTITION_TAG: tag, SOURCE_TAG: "repair"},
    )


def build_reconcile_sensor(
    intervals: Sequence[Interval],
    partition_start: int,
    *,
    interval_s: int,
    partial_ok: bool,
    jobs: Sequence[object],
) -> dg.SensorDefinition:
    """The reconciliation sensor over every configured interval."""

    @seamless_sensor(
        SENSOR_NAME,
        interval_s=interval_s,
        jobs=jobs,
        description="Repairs drift between the store's coverage and Dagster's materialized "
        "partitions, both ways.",
    )
    def _sensor(context: dg.SensorEvaluationContext, seamless: SeamlessResource) -> dg.SensorResult:
        instance = context.instance
        nodes = list(instance.get_dynamic_partitions(NODES_PARTITIONS))
        events: list[dg.AssetMaterialization] = []
        runs: list[dg.RunRequest] = []
        with seamless.open_store() as store:
            for iv in intervals:
                key = dg.AssetKey(asset_name(iv))
                drift = find_drift(
                    store,
                    iv,
                    nodes,
                    instance.get_materialized_partitions(key),
                    partition_start,
                    partial_ok=partial_ok,
                )
                for pk in drift.unreported[: MAX_EVENTS_PER_TICK - len(events)]:
                    fingerprints = seamless.fingerprint_policy()
                    event = coverage_event(store, pk, source="reconcile", fingerprints=fingerprints)
                    events.append(event)
                if drift.lost:
                    latest = instance.get_latest_storage_id_by_partition(
                        key, dg.DagsterEventType.ASSET_MATERIALIZATION
                    )
                    for pk in drift.lost[: MAX_RUNS_PER_TICK - len(runs)]:
                        runs.append(repair_request(pk, latest.get(str(pk))))
        if not events and not runs:
            return dg.SensorResult(skip_reason="store coverage and Dagster agree")
        context.log.info(f"reporting {len(events)} covered window(s), repairing {len(runs)}")
        return dg.SensorResult(run_requests=runs, asset_events=events)

    return _sensor
