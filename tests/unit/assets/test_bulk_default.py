"""Bulk runs by default: a backfill over many partitions is one run unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from seamless_assets import build_definitions, parse_config, run_backfill
from seamless_sdk.config import BackfillSettings
from tests.unit.assets.support import synthetic_config


def test_the_default_packs_hundreds_of_partitions_per_run() -> None:
    assert BackfillSettings().max_partitions_per_run == 500
    defs = build_definitions(parse_config({"intervals": ["1m"]}))
    node = defs.get_repository_def().asset_graph.get(dg.AssetKey("bars_1m"))
    assert node.backfill_policy == dg.BackfillPolicy.multi_run(500)


def test_a_backfill_of_two_nodes_over_26_months_is_one_run(tmp_path: Path) -> None:
    config = synthetic_config(tmp_path, "15m")
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_backfill(
            ["t:A", "t:B"], "15m", "2024-01-01", "2026-03-01",
            instance=instance, config=config, register=True,
        )  # fmt: skip
        assert summary.success and len(summary.run_ids) == 1
        assert len(summary.partition_keys) == 52
        done = instance.get_materialized_partitions(dg.AssetKey("bars_15m"))
        assert done == set(summary.partition_keys)
