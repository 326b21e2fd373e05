"""Checks evaluated batch by batch in the worker thread: every partition gets every
check, each naming its own partition's materialization."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions
from seamless_assets.assets import bars
from seamless_sdk.backfill.dagster import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    PartitionKey,
    job_name,
    register_nodes,
)
from seamless_sdk.intervals import parse_interval
from tests.unit.assets.support import QUIET, synthetic_config

H1 = parse_interval("1h")
Y2024, Y2025 = 1_704_067_200, 1_735_689_600


def test_every_batch_reports_every_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bars, "CHECK_BATCH_ROWS", 1_000)  # a batch per partition
    config = synthetic_config(tmp_path)
    job = build_definitions(config).resolve_job_def(job_name(H1))
    nodes = ["t:A", "t:B"]
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, nodes)
        tags = {
            RANGE_START_TAG: str(PartitionKey(nodes[0], H1, Y2024)),
            RANGE_END_TAG: str(PartitionKey(nodes[1], H1, Y2025)),
        }
        result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET)
        assert result.success
        materialized = {
            e.partition: e.event_specific_data.materialization  # type: ignore[union-attr]
            for e in result.get_asset_materialization_events()
        }
        assert set(materialized) == {"t:A|2024", "t:A|2025", "t:B|2024", "t:B|2025"}
        evaluations = result.get_asset_check_evaluations()
        assert sorted((e.partition, e.check_name) for e in evaluations) == sorted(
            (p, c) for p in materialized for c in ("schema", "quality_rules", "completeness")
        )
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("bars_1h")), limit=10
        ).records
        storage_ids = {r.partition_key: r.storage_id for r in records}
        for e in evaluations:
            assert e.target_materialization_data is not None
            assert e.target_materialization_data.storage_id == storage_ids[e.partition]
