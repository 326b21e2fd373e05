"""The target materialization of a check result, built without ``dagster._*``.

Pins that Dagster still registers the target's class under the serdes name
``targets.py`` relies on, and that an evaluation built with it carries the
storage id the check grid compares (an upgrade that renames it fails here
rather than turning the UI's grid Missing again).
"""

from __future__ import annotations

import dagster as dg

from seamless_assets.assets.targets import TARGET_CLASS, latest_materialization, target_data


def test_target_data_is_dagsters_own_class() -> None:
    target = target_data(42, "run-1", 1_700_000_000.5)
    assert type(target).__name__ == TARGET_CLASS
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("bars_1h"),
        check_name="schema",
        passed=True,
        target_materialization_data=target,
        partition="demo:A|2024",
    )
    data = evaluation.target_materialization_data
    assert data is not None
    assert (data.storage_id, data.run_id, data.timestamp) == (42, "run-1", 1_700_000_000.5)
    assert dg.deserialize_value(dg.serialize_value(evaluation)) == evaluation


def test_latest_materialization_is_the_partitions_newest_or_none() -> None:
    key = dg.AssetKey("bars_1h")
    with dg.DagsterInstance.ephemeral() as instance:
        assert latest_materialization(instance, key, "demo:A|2024") is None
        for partition in ("demo:A|2024", "demo:A|2025", "demo:A|2024"):
            instance.report_runless_asset_event(
                dg.AssetMaterialization(asset_key=key, partition=partition)
            )
        (newest,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=["demo:A|2024"]), limit=1
        ).records
        target = latest_materialization(instance, key, "demo:A|2024")
    assert target is not None
    assert (target.storage_id, target.run_id) == (newest.storage_id, newest.run_id)
