"""End to end: the daemon and the webserver as real processes.

A partition backfill is launched through the webserver's GraphQL API (the
``launchPartitionBackfill`` mutation the UI sends), the daemon runs it, and
the UI's check grid reads Passed for every check of every backfilled partition,
and the SDK then reads the range with FAIL_FAST and gets complete data. The SDK's
Dagster backfiller also submits a run through the same webserver, which the
queued run coordinator and the daemon carry out. Both processes are stopped
at the end, whatever happens.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets.checks.specs import CHECK_NAMES
from seamless_sdk import SeamlessDataProvider, Strategy
from seamless_sdk.backfill.dagster import DagsterBackfiller, register_nodes
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.check_grid import check_grid
from tests.integration.dagster.fetchers import fetch_calls
from tests.integration.dagster.processes import (
    BACKFILL_DONE,
    backfill_state,
    launch_partition_backfill,
)
from tests.integration.dagster.support import (
    BIN,
    WORKSPACE,
    Y2024,
    Y2025,
    SeamlessEnv,
    free_port,
    location_loaded,
    running,
    wait_for,
)

pytestmark = pytest.mark.slow

POLICY = FillPolicy()
# What the SDK's GraphQL submission carries: not the location's default, so it shows.
SDK_POLICY = FillPolicy(partial_ok=True, max_attempts=2, retry_backoff_ms=5.0, jitter_ratio=0.0)


def backfill_status(port: int, backfill_id: str) -> str | None:
    status = str(backfill_state(port, backfill_id)["status"])
    return status if status in BACKFILL_DONE else None


def test_ui_backfill_through_the_daemon_then_a_fail_fast_read(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    env = seamless_env.subprocess_env()
    port = free_port()
    register_nodes(instance, ["demo:A", "demo:B"])
    with (
        running(
            [str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE], env, tmp_path / "daemon.log"
        ),
        running(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", WORKSPACE],
            env,
            tmp_path / "webserver.log",
        ),
    ):
        wait_for("the code location", lambda: location_loaded(port), 120)

        backfill_id = launch_partition_backfill(port, "bars_1h", ["demo:A|2024", "demo:A|2025"])
        status = wait_for("the backfill", lambda: backfill_status(port, backfill_id), 240, 1.0)
        assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, _logs(tmp_path)
        # The UI's check grid: every check of both backfilled partitions reads Passed.
        grid = check_grid(port, "bars_1h")
        assert set(grid) == set(CHECK_NAMES)
        for check, cells in grid.items():
            assert cells == {"demo:A|2024": "SUCCEEDED", "demo:A|2025": "SUCCEEDED"}, check

        # The SDK's backfiller submits a run through the same webserver.
        backfiller = DagsterBackfiller(
            seamless_env.config.requests,
            instance=instance,
            submit="graphql",
            graphql_url=f"http://127.0.0.1:{port}",
            location_name="seamless",
        )
        ticket = backfiller.request(
            "demo:B", parse_interval("1h"), RangeSet([Y2024]), policy=SDK_POLICY
        )
        backfiller.close()
        (run_id,) = ticket.run_ids
        run = wait_for(
            "the SDK's run",
            lambda: (r := instance.get_run_by_id(run_id)) and r.is_finished and r,
            240,
            1.0,
        )
        assert run.status == dg.DagsterRunStatus.SUCCESS, _logs(tmp_path)
        assert run.tags["seamless/partition"] == "bars_1h|demo:B|2024"
        assert FillPolicy.from_tags(run.tags, default=POLICY) == SDK_POLICY

        # Dedup layers 2 and 3: two runs of one partition submitted at once (past
        # the request table) never run together, and the second fetches nothing.
        twins = [_submit_partition_run(port, "demo:B", "2025") for _ in range(2)]
        # The tag limit holds one twin QUEUED while the other runs; a read that
        # misses the window now joins both instead of asking again.
        statuses = {t: instance.get_run_by_id(t).status for t in twins}  # type: ignore[union-attr]
        joiner = DagsterBackfiller(seamless_env.config.requests, instance=instance)
        joined = joiner.request("demo:B", parse_interval("1h"), RangeSet([Y2025]), policy=POLICY)
        joiner.close()
        assert dg.DagsterRunStatus.QUEUED in statuses.values(), statuses
        assert joined.attached == RangeSet([Y2025])
        assert set(joined.run_ids) == set(twins)
        records = wait_for(
            "both twin runs",
            lambda: (
                all((r := instance.get_run_by_id(t)) and r.is_finished for t in twins)
                and instance.get_run_records(dg.RunsFilter(run_ids=twins))
            ),
            240,
            1.0,
        )
        assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
        first, second = sorted(records, key=lambda r: r.start_time or 0)
        assert first.end_time is not None and second.start_time is not None
        assert first.end_time <= second.start_time, "the tag limit let two runs overlap"
        fetched_2025 = [
            c
            for c in fetch_calls(seamless_env.fetch_log)
            if c[0] == "demo:B" and Y2025[0] <= c[2] < Y2025[1]
        ]
        assert fetched_2025 and len(fetched_2025) == len(set(fetched_2025))

    with SeamlessDataProvider(LocalStore(seamless_env.config.store)) as provider:
        a = provider.read("demo:A", "1h", Y2024[0], Y2025[1], strategy=Strategy.FAIL_FAST)
        b = provider.read("demo:B", "1h", *Y2024, strategy=Strategy.FAIL_FAST)
    assert len(a.df) == (366 + 365) * 24 and not a.meta.missing
    assert len(b.df) == 366 * 24 and not b.meta.missing
    assert instance.get_materialized_partitions(dg.AssetKey("bars_1h")) >= {
        "demo:A|2024",
        "demo:A|2025",
        "demo:B|2024",
    }


def _logs(tmp_path: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text()[-4000:]}" for p in sorted(tmp_path.glob("*.log"))
    )


def _submit_partition_run(port: int, node_id: str, window: str) -> str:
    """Submit a run of one bars_1h partition with Seamless's partition tag."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    with warnings.catch_warnings():
        # dagster-graphql's client still calls gql's deprecated execute() form.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"gql\.")
        return client.submit_job_execution(
            "bars_1h_job",
            repository_location_name="seamless",
            tags={
                "dagster/partition": f"{node_id}|{window}",
                "seamless/partition": f"bars_1h|{node_id}|{window}",
            },
        )
