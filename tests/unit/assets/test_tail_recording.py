"""A tail run records a partition at most every ``tail_record_every_s``: in
between it stores the new bars and writes no Dagster event for the partition."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions, parse_config
from seamless_sdk.backfill.dagster import SOURCE_TAG, PartitionKey, job_name, register_nodes
from seamless_sdk.intervals import parse_interval, window_floor
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.unit.assets.support import QUIET, synthetic_config

H1 = parse_interval("1h")
NODE = "demo:A"


def materializations(instance: dg.DagsterInstance, key: str) -> int:
    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("bars_1h"), asset_partitions=[key]),
            limit=100,
        ).records
    )


@pytest.mark.parametrize(("every_s", "recorded"), [(3600, False), (0, True)])
def test_tail_run_records_at_most_every_n_seconds(
    tmp_path: Path, every_s: int, recorded: bool
) -> None:
    config = synthetic_config(
        tmp_path, partition_start="2020-01-01", sensors={"tail_record_every_s": every_s}
    )
    edge = H1.now_edge()
    window = window_floor(edge - 1, "year")
    key = str(PartitionKey(NODE, H1, window))
    job = build_definitions(config).resolve_job_def(job_name(H1))
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, [NODE])
        assert job.execute_in_process(
            instance=instance, partition_key=key, run_config=QUIET
        ).success
        with LocalStore(config.store) as store:  # two new bars to fetch
            store.remove_coverage(NODE, H1, RangeSet.span(edge - 2 * 3600, edge))
        tail = job.execute_in_process(
            instance=instance,
            partition_key=key,
            tags={SOURCE_TAG: "tail"},
            run_config={**QUIET, "ops": {"bars_1h": {"config": {"partitions": [key]}}}},
        )
        assert tail.success
        with LocalStore(config.store) as store:
            assert not store.coverage(NODE, H1).missing(window, edge)
        assert materializations(instance, key) == (2 if recorded else 1)
        assert bool(tail.get_asset_check_evaluations()) is recorded


def test_run_config_partitions_must_lie_in_the_run(tmp_path: Path) -> None:
    config = parse_config(
        {"store": str(tmp_path / "bars.sqlite"), "intervals": ["1h"], "fetcher": "synthetic",
         "backfill": {"gx_check": False, "retries": 0}}
    )  # fmt: skip
    job = build_definitions(config).resolve_job_def(job_name(H1))
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, [NODE, "demo:B"])
        result = job.execute_in_process(
            instance=instance,
            partition_key=f"{NODE}|2024",
            run_config={**QUIET, "ops": {"bars_1h": {"config": {"partitions": ["demo:B|2024"]}}}},
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert "partitions: ['demo:B|2024'] are not partitions" in str(failure.step_failure_data)
