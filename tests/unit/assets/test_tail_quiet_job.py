"""Between two records the tail sends partitions to the quiet fill job: their new
bars are stored and Dagster writes no event per partition."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from seamless_assets import build_definitions
from seamless_sdk.backfill.dagster import PartitionKey, register_nodes
from seamless_sdk.intervals import parse_interval, window_floor
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.unit.assets.support import QUIET, synthetic_config, tail_tick

H1 = parse_interval("1h")
NODES = ["t:A", "t:B", "t:C"]


def run(defs: dg.Definitions, instance: dg.DagsterInstance, r: dg.RunRequest) -> int:
    result = defs.resolve_job_def(str(r.job_name)).execute_in_process(
        instance=instance,
        partition_key=r.partition_key,
        tags=dict(r.tags),
        run_config={**QUIET, **r.run_config},
    )
    assert result.success
    return len(instance.all_logs(result.run_id))


def test_quiet_partitions_go_to_the_fill_job(tmp_path: Path) -> None:
    config = synthetic_config(tmp_path, sensors={"tail_windows": 1, "tail_record_every_s": 3600})
    defs = build_definitions(config)
    edge = H1.now_edge()
    window = window_floor(edge - 1, "year")
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, NODES)
        (first,) = tail_tick(config, instance, defs)
        assert first.job_name == "bars_1h_job"  # never recorded: the asset records them
        run(defs, instance, first)
        key = dg.AssetKey("bars_1h")
        assert len(instance.get_materialized_partitions(key)) == 3

        with LocalStore(config.store) as store:  # new bars for A and C only
            for node in ("t:A", "t:C"):
                store.remove_coverage(node, H1, RangeSet.span(edge - 2 * 3600, edge))
        (quiet,) = tail_tick(config, instance, defs)
        assert quiet.job_name == "bars_1h_tail_fill" and quiet.partition_key is None
        listed = quiet.run_config["ops"]["bars_1h_tail_fill_op"]["config"]["partitions"]
        assert listed == [str(PartitionKey(n, H1, window)) for n in ("t:A", "t:C")]
        before = instance.fetch_materializations(key, limit=100).records
        events = run(defs, instance, quiet)
        assert events < 20  # a handful of run events, none per partition
        assert instance.fetch_materializations(key, limit=100).records == before
        with LocalStore(config.store) as store:
            for node in NODES:
                assert not store.coverage(node, H1).missing(window, edge)
        assert tail_tick(config, instance, defs) == []  # nothing new: nothing started
