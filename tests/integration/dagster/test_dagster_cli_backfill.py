"""``run_backfill``: the partitions of a date range, materialized without the UI."""

from __future__ import annotations

import dagster as dg
import pytest

from seamless_assets import BackfillProgress, build_definitions, run_backfill
from seamless_sdk.backfill.dagster import register_nodes
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import fetch_calls
from tests.integration.dagster.support import Y2024, Y2025, SeamlessEnv


def test_run_backfill_fills_every_window_of_the_range_and_reports_progress(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    seen: list[BackfillProgress] = []

    summary = run_backfill(
        ["demo:A", "demo:B"],
        "1h",
        "2024-03-15",
        "2025-02-01T00:00:00Z",
        progress=seen.append,
        instance=instance,
    )

    assert summary.success
    assert summary.partition_keys == ("demo:A|2024", "demo:A|2025", "demo:B|2024", "demo:B|2025")
    assert len(summary.run_ids) == 1  # both nodes' 4 windows fit max_partitions_per_run
    assert [(p.done, p.total) for p in seen] == [(4, 4)]
    assert instance.get_materialized_partitions(dg.AssetKey("bars_1h")) == set(
        summary.partition_keys
    )
    with LocalStore(seamless_env.config.store) as store:
        for node in ("demo:A", "demo:B"):
            assert store.coverage(node, parse_interval("1h")).covers(Y2024[0], Y2025[1])

    calls = len(fetch_calls(seamless_env.fetch_log))
    again = run_backfill(
        ["demo:A"], "1h", Y2024[0], Y2025[1], instance=instance, max_partitions_per_run=1
    )
    assert again.success and len(again.run_ids) == 2
    assert len(fetch_calls(seamless_env.fetch_log)) == calls, "covered windows are not fetched"


def test_run_backfill_of_scattered_nodes_never_marks_a_node_between_them(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    """demo:B lies between demo:A and demo:FAILC in Dagster's node order. A
    backfill of A and FAILC shared one run whose range spanned B, and when the
    run failed Dagster marked B's materialized partitions failed too; each run
    is now an exact range (A's, then FAILC's), so B keeps its status."""
    register_nodes(instance, ["demo:A", "demo:B", "demo:FAILC"])
    assert run_backfill(["demo:B"], "1d", Y2024[0], Y2025[1], instance=instance).success
    summary = run_backfill(["demo:A", "demo:FAILC"], "1d", Y2024[0], Y2025[1], instance=instance)
    assert len(summary.run_ids) == 2 and len(summary.failed_runs) == 1
    asset = dg.AssetKey("bars_1d")
    assert instance.get_materialized_partitions(asset) == {
        "demo:A|2024",
        "demo:A|2025",
        "demo:B|2024",
        "demo:B|2025",
    }
    keys = ["demo:B|2024", "demo:B|2025", "demo:FAILC|2024"]
    bars = build_definitions(seamless_env.config).resolve_assets_def("bars_1d")
    status = instance.get_status_by_partition(asset, keys, bars.partitions_def)  # type: ignore[arg-type]
    assert {k: str(v) for k, v in status.items()} == {
        "demo:B|2024": "AssetPartitionStatus.MATERIALIZED",
        "demo:B|2025": "AssetPartitionStatus.MATERIALIZED",
        "demo:FAILC|2024": "AssetPartitionStatus.FAILED",
    }


def test_run_backfill_refuses_unknown_nodes_unless_told_to_register(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    with pytest.raises(InvalidRequestError, match=r"nodes: \['demo:Z'\] are not registered"):
        run_backfill(["demo:Z"], "1d", *Y2024, instance=instance)
    assert "demo:Z" not in instance.get_dynamic_partitions("nodes")
    assert run_backfill(["demo:Z"], "1d", *Y2024, instance=instance, register=True).success


def test_run_backfill_rejects_an_interval_without_an_asset(seamless_env: SeamlessEnv) -> None:
    with pytest.raises(InvalidRequestError, match="interval: 1m has no asset"):
        run_backfill(["demo:A"], "1m", "2024-01-01", "2024-02-01")
