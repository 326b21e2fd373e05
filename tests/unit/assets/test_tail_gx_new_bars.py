"""A recorded tail partition runs Great Expectations on the bars since its last
run's checks, not on the whole window."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from seamless_assets import build_definitions
from seamless_assets.assets.bars import tail_state
from seamless_assets.assets.evaluations import _gx_part
from seamless_assets.assets.partition import Filled
from seamless_sdk.backfill.dagster import SOURCE_TAG, PartitionKey, job_name, register_nodes
from seamless_sdk.bars import epoch_seconds, iso_utc
from seamless_sdk.conformance import ConformanceReport
from seamless_sdk.intervals import parse_interval, window_floor
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.unit.assets.support import QUIET, synthetic_config

H1 = parse_interval("1h")
NODE = "demo:A"


def test_tail_state_and_the_gx_slice(tmp_path: Path) -> None:
    config = synthetic_config(
        tmp_path, partition_start="2020-01-01", gx_check=True, sensors={"tail_record_every_s": 0}
    )
    edge = H1.now_edge()
    window = window_floor(edge - 1, "year")
    pkey = PartitionKey(NODE, H1, window)
    key = str(pkey)
    job = build_definitions(config).resolve_job_def(job_name(H1))
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, [NODE])
        first = job.execute_in_process(instance=instance, partition_key=key, run_config=QUIET)
        assert first.success
        quiet, until = tail_state(instance, dg.AssetKey("bars_1h"), [key], 0)
        assert quiet == frozenset() and until == {key: edge}
        quiet, until = tail_state(instance, dg.AssetKey("bars_1h"), [key], 3600)
        assert quiet == {key} and until == {}  # recorded just now: not again this hour

        with LocalStore(config.store) as store:
            frame = store.read(NODE, H1, *pkey.window)
            covered = store.coverage(NODE, H1).clip(*pkey.window)
            store.remove_coverage(NODE, H1, RangeSet.span(edge - 2 * 3600, edge))
        filled = Filled(pkey, None, ConformanceReport.empty(), frame, covered, None)
        part, span = _gx_part(filled, edge - 2 * 3600)
        assert list(epoch_seconds(part["ts"])) == [edge - 7200, edge - 3600]
        assert span == (edge - 7200, pkey.window[1])
        whole, span = _gx_part(filled, None)
        assert whole is frame and span == pkey.window

        tail = job.execute_in_process(
            instance=instance,
            partition_key=key,
            tags={SOURCE_TAG: "tail"},
            run_config={**QUIET, "ops": {"bars_1h": {"config": {"partitions": [key]}}}},
        )
        assert tail.success
        verdicts = {e.check_name: e for e in tail.get_asset_check_evaluations()}
        assert set(verdicts) == {"schema", "quality_rules", "completeness", "gx_expectations"}
        assert all(e.passed for e in verdicts.values())
        # The refill re-wrote the last two bars (before the last record's end):
        # GX judged exactly those, from the first range this fill fetched.
        checked_from = verdicts["gx_expectations"].metadata["gx_checked_from"]
        assert checked_from.value == iso_utc(edge - 7200)
