"""The tail sensor with 500 registered nodes: a bounded number of runs per tick.

Gaps are scattered on purpose (every 7th node, every other node of one
asset, a few at random): grouping runs by consecutive nodes would ask for
hundreds of runs here. A tick asks for at most one run per asset and tail
window, each listing exactly the partitions it fills, and a quiet tick asks
for none.
"""

from __future__ import annotations

import random
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import parse_config
from seamless_assets.sensors.tail import tail_windows
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    SOURCE_TAG,
    PartitionKey,
    register_nodes,
)
from seamless_sdk.bars import empty_bar_frame
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import WindowWrite
from seamless_sdk.stores.local import LocalStore
from tests.unit.assets.support import tail_tick

NODES = [f"bench:N{i:03d}" for i in range(500)]
TAIL_WINDOWS = 2


@pytest.fixture
def config(tmp_path: Path) -> SeamlessConfig:
    return parse_config(
        {
            "store": str(tmp_path / "bars.sqlite"),
            "partition_start": "2020-01-01",
            "intervals": ["1h", "1d"],
            "backfill": {"gx_check": False},
            "sensors": {"tail_windows": TAIL_WINDOWS},
        }
    )


def cover_tails(config: SeamlessConfig, skip: set[tuple[str, str]]) -> None:
    """Mark every node's tail windows covered (no bars), except ``skip``'s (node, interval)."""
    writes = [
        WindowWrite(node, iv, ws, we, empty_bar_frame(), RangeSet.span(ws, we))
        for iv in config.intervals
        for ws, we in tail_windows(iv, config.partition_start, TAIL_WINDOWS)
        for node in NODES
        if (node, iv.name) not in skip
    ]
    with LocalStore(config.store) as store:
        store.write_many(writes)


def listed(request: dg.RunRequest) -> list[str]:
    ops = request.run_config["ops"]
    (op,) = ops.values()
    return list(op["config"]["partitions"])


def test_scattered_gaps_of_500_nodes_take_a_handful_of_runs(config: SeamlessConfig) -> None:
    every_7th = {(n, "1h") for n in NODES[::7]}
    every_other = {(n, "1d") for n in NODES[::2]}
    rng = random.Random(11)
    scattered = {(n, "1h") for n in rng.sample(NODES, 40)}
    gaps = every_7th | every_other | scattered
    cover_tails(config, gaps)
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, NODES)
        assert len(instance.get_dynamic_partitions(NODES_PARTITIONS)) == 500
        requests = tail_tick(config, instance)
        assert len(requests) <= len(config.intervals) * TAIL_WINDOWS
        filled = [
            PartitionKey.parse(iv, key)
            for r in requests
            for iv in [config.interval(str(r.job_name).removeprefix("bars_").removesuffix("_job"))]
            for key in listed(r)
        ]
        # Exactly the gaps, in every tail window of their asset, and nothing else.
        assert {(k.node_id, k.interval.name) for k in filled} == gaps
        assert len(filled) == len(set(filled)) == len(gaps) * TAIL_WINDOWS
        assert all(r.tags[SOURCE_TAG] == "tail" for r in requests)

        cover_tails(config, set())
        assert tail_tick(config, instance) == []

        # A removed node's gap is nobody's business any more: its tail stops.
        cover_tails(config, set())
        with LocalStore(config.store) as store:
            iv = config.intervals[0]
            ws, we = tail_windows(iv, config.partition_start, TAIL_WINDOWS)[-1]
            store.remove_coverage(NODES[0], iv, RangeSet.span(ws, we))
        wanted = [[str(PartitionKey(NODES[0], iv, ws))]]
        assert [listed(r) for r in tail_tick(config, instance)] == wanted
        instance.delete_dynamic_partition(NODES_PARTITIONS, NODES[0])
        assert tail_tick(config, instance) == []
