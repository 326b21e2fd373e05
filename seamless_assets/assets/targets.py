"""The materialization a partition's check results target.

Dagster derives a partitioned check's status per partition from the asset
check executions table: a partition reads Passed or Failed only while the
latest evaluation's ``target_materialization_data.storage_id`` equals the
storage id of the partition's latest materialization (``is_current`` in
Dagster's asset check state); otherwise the result is stale and the UI shows
the partition as Missing. ``AssetCheckResult`` fills the target in by itself,
but only for a run of one partition: our range runs fill many partitions in
one step, so the asset yields ``AssetCheckEvaluation`` events and names the
target itself.

``dagster`` does not export the target's class
(``AssetCheckEvaluationTargetMaterializationData``) at its top level, and
project code imports no ``dagster._*`` module. The class is registered for
Dagster's serdes under that name, which Dagster must keep stable to read the
event logs it has written, so it is built from its serialized form with the
public ``dagster.deserialize_value``.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pandas as pd

TARGET_CLASS = "AssetCheckEvaluationTargetMaterializationData"


def target_data(storage_id: int, run_id: str, timestamp: float) -> Any:
    """The ``target_materialization_data`` of an ``AssetCheckEvaluation``."""
    return dg.deserialize_value(
        json.dumps(
            {
                "__class__": TARGET_CLASS,
                "storage_id": int(storage_id),
                "run_id": run_id,
                "timestamp": float(timestamp),
            }
        )
    )


def latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> Any | None:
    """Target data of the latest materialization of ``partition``, None if it has none."""
    record = latest_record(instance, asset_key, partition)
    if record is None:
        return None
    return target_data(record.storage_id, record.run_id, record.timestamp)


def latest_record(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str
) -> dg.EventLogRecord | None:
    """The latest materialization record of ``partition``, None if it has none."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, Any]:
    """Target data of the latest materialization of each of ``partitions`` that
    has one, with one event-log query when each was materialized last (as a run
    that just materialized them finds): the newest ``len(partitions)`` records
    then hold one per partition. Partitions not among them are looked up one
    by one."""
    return {
        partition: target_data(record.storage_id, record.run_id, record.timestamp)
        for partition, record in latest_records(instance, asset_key, partitions).items()
    }


def latest_records(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, dg.EventLogRecord]:
    """The latest materialization record of each of ``partitions`` that has one
    (queried as :func:`latest_materializations` says)."""
    if not partitions:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions),
        limit=len(partitions),
    ).records
    found: dict[str, dg.EventLogRecord] = {}
    for record in records:  # newest first: the first record of a partition is its latest
        partition = record.partition_key
        if partition is not None and partition not in found:
            found[partition] = record
    for partition in partitions:
        if partition not in found and (record := latest_record(instance, asset_key, partition)):
            found[partition] = record
    return found


def checked_until(record: dg.EventLogRecord) -> int | None:
    """Where the bars a run's materialization vouched for end: the end of its
    ``covered`` metadata (epoch seconds). None for a runless report (no check
    ran with it) or a materialization without that metadata."""
    if not record.run_id:
        return None
    event = record.asset_materialization
    value = event.metadata.get("covered") if event is not None else None
    ranges = getattr(value, "value", None)
    if not isinstance(ranges, list) or not ranges:
        return None
    last = ranges[-1]
    if not isinstance(last, list) or len(last) != 2 or not isinstance(last[1], str):
        return None
    return int(pd.Timestamp(last[1]).timestamp())
