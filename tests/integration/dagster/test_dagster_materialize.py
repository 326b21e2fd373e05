"""Materializing bar partitions in process against a real instance.

A materialization is fill_window: the window ends up covered in the store,
the partition's materialization carries rows, coverage, the conformance
report and the fingerprint (also its data version), and a second run of a
covered partition does not call the fetcher.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from seamless_assets.checks.specs import CHECK_NAMES
from seamless_sdk.backfill.dagster import RANGE_END_TAG, RANGE_START_TAG, register_nodes
from seamless_sdk.backfill.fill import window_fingerprint
from seamless_sdk.conformance import read_report
from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import fetch_calls
from tests.integration.dagster.support import Y2024, Y2025, SeamlessEnv

H1 = parse_interval("1h")
BARS_1H = dg.AssetKey("bars_1h")


def latest(instance: dg.DagsterInstance, key: str) -> dg.AssetMaterialization:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BARS_1H, asset_partitions=[key]), limit=1
    ).records
    assert records, f"no materialization of {key}"
    materialization = records[0].asset_materialization
    assert materialization is not None
    return materialization


def test_one_partition_fills_its_window_and_a_rerun_skips_the_fetch(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    register_nodes(instance, ["demo:A"])
    job = defs.resolve_job_def("bars_1h_job")

    first = job.execute_in_process(instance=instance, partition_key="demo:A|2024")

    assert first.success
    calls = fetch_calls(seamless_env.fetch_log)
    assert calls and len(calls) == len(set(calls)), "every chunk fetched once"
    with LocalStore(seamless_env.config.store) as store:
        assert store.coverage("demo:A", H1).covers(*Y2024)
        fingerprint = window_fingerprint(store, "demo:A", H1, *Y2024)
    event = latest(instance, "demo:A|2024")
    assert event.metadata["dagster/row_count"].value == 366 * 24
    assert event.metadata["fingerprint"].value == fingerprint
    assert event.metadata["skipped"].value is False
    assert event.tags["dagster/data_version"] == fingerprint
    assert event.metadata["conformance"].value["ok"] is True
    assert {e.check_name: e.passed for e in first.get_asset_check_evaluations()} == {
        "schema": True,
        "completeness": True,
        "quality_rules": True,
        "gx_expectations": True,
    }
    report = read_report(Path(event.metadata["report_path"].value))
    assert report["node_id"] == "demo:A" and report["window_start"] == Y2024[0]
    assert report["report"]["ok"] is True and report["report"]["rows_out"] == 366 * 24

    again = job.execute_in_process(instance=instance, partition_key="demo:A|2024")

    assert again.success
    assert fetch_calls(seamless_env.fetch_log) == calls, "a covered partition is not fetched"
    event = latest(instance, "demo:A|2024")
    assert event.metadata["skipped"].value is True
    assert event.tags["dagster/data_version"] == fingerprint


def test_one_run_fills_a_range_of_partitions_each_with_its_own_version(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    register_nodes(instance, ["demo:A", "demo:B"])
    job = defs.resolve_job_def("bars_1h_job")

    result = job.execute_in_process(
        instance=instance, tags={RANGE_START_TAG: "demo:A|2024", RANGE_END_TAG: "demo:B|2025"}
    )

    assert result.success
    keys = {"demo:A|2024", "demo:A|2025", "demo:B|2024", "demo:B|2025"}
    assert instance.get_materialized_partitions(BARS_1H) == keys
    versions = {latest(instance, k).tags["dagster/data_version"] for k in keys}
    assert len(versions) == 4
    evaluations = result.get_asset_check_evaluations()
    assert {(e.partition, e.check_name) for e in evaluations} == {
        (k, c) for k in keys for c in CHECK_NAMES
    }
    with LocalStore(seamless_env.config.store) as store:
        for node in ("demo:A", "demo:B"):
            assert store.coverage(node, H1).covers(Y2024[0], Y2025[1])


def test_checks_fail_on_a_bad_partition_and_pass_on_a_good_one(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    register_nodes(instance, ["demo:GOOD", "demo:BAD", "demo:GAP"])
    job = defs.resolve_job_def("bars_1d_job")

    good = job.execute_in_process(instance=instance, partition_key="demo:GOOD|2024")
    bad = job.execute_in_process(
        instance=instance, partition_key="demo:BAD|2024", raise_on_error=False
    )
    gap = job.execute_in_process(instance=instance, partition_key="demo:GAP|2024")

    assert good.success
    assert all(e.passed for e in good.get_asset_check_evaluations())

    # Bad bars: nothing is written, the blocking checks fail and fail the run.
    assert not bad.success
    verdicts = {e.check_name: e for e in bad.get_asset_check_evaluations()}
    assert not verdicts["quality_rules"].passed
    assert verdicts["quality_rules"].blocking
    assert (
        verdicts["quality_rules"].metadata["rejected_violations"].value["high_lt_max_open_close"]
        > 0
    )
    assert verdicts["quality_rules"].partition == "demo:BAD|2024"
    assert "demo:BAD|2024" not in instance.get_materialized_partitions(dg.AssetKey("bars_1d"))
    with LocalStore(seamless_env.config.store) as store:
        assert not store.coverage("demo:BAD", parse_interval("1d"))

    # Missing bars warn (completeness is not blocking); the run succeeds.
    assert gap.success
    completeness = next(
        e for e in gap.get_asset_check_evaluations() if e.check_name == "completeness"
    )
    assert not completeness.passed
    assert completeness.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in completeness.metadata.items()}
    assert meta["expected"] == 366 and meta["missing"] == 37 and meta["observed"] == 329
    assert meta["first_gap"] == "2024-01-01T00:00:00Z"


def test_a_failing_fetch_fails_the_run_and_writes_nothing(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    register_nodes(instance, ["demo:FAIL"])
    job = defs.resolve_job_def("bars_1d_job")

    result = job.execute_in_process(
        instance=instance, partition_key="demo:FAIL|2024", raise_on_error=False
    )

    assert not result.success
    assert not instance.get_materialized_partitions(dg.AssetKey("bars_1d"))
    with LocalStore(seamless_env.config.store) as store:
        assert not store.coverage("demo:FAIL", parse_interval("1d"))
