"""``run_backfill``: the partitions of a date range, materialized without the UI."""

from __future__ import annotations

import dagster as dg
import pytest

from seamless_assets import BackfillProgress, run_backfill
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
    assert len(summary.run_ids) == 2  # one run per node: 2 windows fit max_partitions_per_run
    assert [(p.done, p.total) for p in seen] == [(2, 4), (4, 4)]
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


def test_run_backfill_rejects_an_interval_without_an_asset(seamless_env: SeamlessEnv) -> None:
    with pytest.raises(InvalidRequestError, match="interval: 1m has no asset"):
        run_backfill(["demo:A"], "1m", "2024-01-01", "2024-02-01")
