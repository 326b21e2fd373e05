"""The node-registration and tail sensors, evaluated with a real context."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    RANGE_END_TAG,
    RANGE_START_TAG,
    register_nodes,
)
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval, window_floor
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ScriptedFetcher
from tests.integration.dagster.support import CONFIG, Y2024, SeamlessEnv, evaluate_sensor, make_env

D1 = parse_interval("1d")


def test_nodes_sensor_registers_configured_nodes_only(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    """A node with stored bars but not configured (or removed on purpose) stays out."""
    with LocalStore(seamless_env.config.store) as store:
        fill_window(store, ScriptedFetcher(), "demo:C", D1, *Y2024, policy=FillPolicy())

    tick = evaluate_sensor("seamless_nodes_sensor", defs, instance, seamless_env.config)

    (request,) = tick.dynamic_partitions_requests
    assert isinstance(request, dg.AddDynamicPartitionsRequest)
    assert list(request.partition_keys) == ["demo:A", "demo:B"]
    instance.add_dynamic_partitions(NODES_PARTITIONS, list(request.partition_keys))
    again = evaluate_sensor("seamless_nodes_sensor", defs, instance, seamless_env.config)
    assert again.dynamic_partitions_requests == []


def test_tail_sensor_fills_the_newest_windows_with_range_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(tmp_path, monkeypatch, CONFIG.replace("tail_windows: 0", "tail_windows: 2"))
    defs = build_definitions(env.config)
    with dg.DagsterInstance.get() as instance:
        register_nodes(instance, ["demo:A", "demo:B"])
        with LocalStore(env.config.store) as store:  # B's newest windows are already there
            edge = D1.now_edge()
            last_year = window_floor(window_floor(edge - 1, "year") - 1, "year")
            fill_window(
                store, ScriptedFetcher(), "demo:B", D1, last_year, edge, policy=FillPolicy()
            )

        tick = evaluate_sensor("seamless_tail_sensor", defs, instance, env.config)

        requests = [r for r in tick.run_requests if r.job_name == "bars_1d_job"]
        this_year = time.gmtime(edge - 1).tm_year
        assert sorted(r.partition_key or "" for r in requests) == [
            f"demo:A|{this_year - 1}",
            f"demo:A|{this_year}",
        ]
        hourly = [r for r in tick.run_requests if r.job_name == "bars_1h_job"]
        # Both nodes need this year's hourly bars: one range run covers them.
        assert any(
            r.tags.get(RANGE_START_TAG) == f"demo:A|{this_year}"
            and r.tags.get(RANGE_END_TAG) == f"demo:B|{this_year}"
            for r in hourly
        )
        for r in tick.run_requests:
            job = defs.resolve_job_def(r.job_name or "")
            assert job.execute_in_process(
                instance=instance,
                partition_key=r.partition_key,
                tags=dict(r.tags),
                run_config=r.run_config,
            ).success

        settled = evaluate_sensor("seamless_tail_sensor", defs, instance, env.config)
        # Nothing left, unless an hour closed meanwhile (then only under a newer edge).
        old_keys = {r.run_key for r in tick.run_requests}
        assert all(
            r.job_name == "bars_1h_job" and r.run_key not in old_keys for r in settled.run_requests
        )
