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
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    record = records[0]
    return target_data(record.storage_id, record.run_id, record.timestamp)


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str]
) -> dict[str, Any]:
    """Target data of the latest materialization of each of ``partitions`` that
    has one, with one event-log query when each was materialized last (as a run
    that just materialized them finds): the newest ``len(partitions)`` records
    then hold one per partition. Partitions not among them are looked up one
    by one."""
    if not partitions:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=partitions),
        limit=len(partitions),
    ).records
    found: dict[str, Any] = {}
    for record in records:  # newest first: the first record of a partition is its latest
        partition = record.partition_key
        if partition is not None and partition not in found:
            found[partition] = target_data(record.storage_id, record.run_id, record.timestamp)
    for partition in partitions:
        if partition not in found:
            target = latest_materialization(instance, asset_key, partition)
            if target is not None:
                found[partition] = target
    return found
