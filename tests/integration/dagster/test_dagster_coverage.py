"""Store coverage made visible in Dagster, and drift repaired both ways."""

from __future__ import annotations

import dagster as dg

from seamless_assets import coverage_reporter, report_coverage
from seamless_sdk.backfill.dagster import NODES_PARTITIONS, register_nodes
from seamless_sdk.backfill.fill import fill_window, window_fingerprint
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ScriptedFetcher
from tests.integration.dagster.support import Y2024, Y2025, SeamlessEnv, evaluate_sensor

H1 = parse_interval("1h")
BARS_1H = dg.AssetKey("bars_1h")


def latest(instance: dg.DagsterInstance, key: str) -> dg.EventLogRecord:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BARS_1H, asset_partitions=[key]), limit=1
    ).records
    assert records
    return records[0]


def test_in_process_fills_are_reported_as_runless_materializations(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    with LocalStore(seamless_env.config.store) as store:
        fill_window(store, ScriptedFetcher(), "demo:A", H1, *Y2024, policy=FillPolicy())
        fill_window(
            store,
            ScriptedFetcher(),
            "demo:A",
            H1,
            Y2025[0],
            Y2025[0] + 30 * 86_400,
            policy=FillPolicy(),
        )

        keys = report_coverage(instance, "demo:A", "1h", (Y2024[0], Y2025[1]), store=store)

        # Only the wholly covered window is a materialized partition.
        assert keys == ["demo:A|2024"]
        assert instance.get_materialized_partitions(BARS_1H) == {"demo:A|2024"}
        assert "demo:A" in instance.get_dynamic_partitions(NODES_PARTITIONS)
        record = latest(instance, "demo:A|2024")
        assert record.run_id == ""  # runless
        event = record.asset_materialization
        assert event is not None
        fingerprint = window_fingerprint(store, "demo:A", H1, *Y2024)
        assert event.tags["dagster/data_version"] == fingerprint
        assert event.metadata["source"].value == "sdk"
        assert event.metadata["dagster/row_count"].value == 366 * 24


def test_coverage_reporter_reports_what_a_fill_completed(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    with LocalStore(seamless_env.config.store) as store:
        report = coverage_reporter(instance, store, intervals=["1h", "1d"])
        report(fill_window(store, ScriptedFetcher(), "demo:B", H1, *Y2025, policy=FillPolicy()))
        # Again: the fill is skipped, so nothing is reported.
        report(fill_window(store, ScriptedFetcher(), "demo:B", H1, *Y2025, policy=FillPolicy()))
        m15 = parse_interval("15m")  # no bars_15m asset: not reported
        report(
            fill_window(
                store,
                ScriptedFetcher(),
                "demo:B",
                m15,
                Y2025[0],
                Y2025[0] + 86_400,
                policy=FillPolicy(),
            )
        )

    assert instance.get_materialized_partitions(BARS_1H) == {"demo:B|2025"}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BARS_1H, asset_partitions=["demo:B|2025"]), limit=10
    ).records
    assert len(records) == 1


def test_reconcile_sensor_repairs_drift_both_ways(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    config = seamless_env.config
    register_nodes(instance, ["demo:A", "demo:B"])
    defs.resolve_job_def("bars_1h_job").execute_in_process(
        instance=instance, partition_key="demo:B|2024"
    )
    with LocalStore(config.store) as store:
        # Covered but never reported: the SDK filled it in process.
        fill_window(store, ScriptedFetcher(), "demo:A", H1, *Y2024, policy=FillPolicy())
        # Materialized but lost from the store.
        store.remove_coverage("demo:B", H1, RangeSet([Y2024]))

    result = evaluate_sensor("seamless_reconcile_sensor", defs, instance, config)

    assert [e.partition for e in result.asset_events] == ["demo:A|2024"]
    event = result.asset_events[0]
    assert isinstance(event, dg.AssetMaterialization)
    assert event.metadata["source"].value == "reconcile"
    (repair,) = result.run_requests
    storage_id = latest(instance, "demo:B|2024").storage_id
    assert repair.partition_key == "demo:B|2024"
    assert repair.run_key == f"repair|bars_1h|demo:B|2024|{storage_id}"
    assert repair.tags["seamless/source"] == "repair"

    # What the daemon does with the result: record the events, launch the run.
    for e in result.asset_events:
        instance.report_runless_asset_event(e)
    job = defs.resolve_job_def(repair.job_name or "")
    assert job.execute_in_process(
        instance=instance, partition_key=repair.partition_key, tags=dict(repair.tags)
    ).success

    settled = evaluate_sensor("seamless_reconcile_sensor", defs, instance, config)
    assert settled.asset_events == [] and settled.run_requests == []
    with LocalStore(config.store) as store:
        assert store.coverage("demo:B", H1).covers(*Y2024)
