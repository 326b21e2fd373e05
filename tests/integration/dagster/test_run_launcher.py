"""The warm run launcher under a real daemon and webserver.

Three backfills of a partition each are three runs, each forked from the
daemon's preloaded forkserver. One
run is terminated from the UI's *Terminate* (the ``terminateRun`` mutation,
carried out by the webserver's launcher): it ends CANCELED. One run's
worker is killed with SIGKILL: the daemon's run monitoring (polling every
second here) finds the worker gone and fails the run. The third ends
SUCCESS, its partition materialized, with the worker's pid and host in its
tags. A ``SLOW`` node's fetch waits until the test releases it, so its run
is still going when the test acts on it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from seamless_assets.run_launcher import CLI_PROCESS_TAG, HOST_TAG, PID_TAG
from seamless_sdk.backfill.dagster import register_nodes
from tests.integration.dagster.fetchers import SLOW_UNTIL_ENV
from tests.integration.dagster.processes import (
    daemon_and_webserver,
    graphql,
    launch_partition_backfill,
)
from tests.integration.dagster.support import SeamlessEnv, wait_for

pytestmark = pytest.mark.slow

TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId, terminatePolicy: SAFE_TERMINATE) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""

NODES = {"cancel": "demo:SLOWC", "kill": "demo:SLOWK", "ok": "demo:A"}
LAUNCHED = ("cancel", "kill", "ok")
NODES["cli"] = "demo:SLOWCLI"


def _warm_instance_yaml(home: Path) -> None:
    """The test's instance with WarmRunLauncher (on either storage) and a 1 s monitor."""
    path = home / "dagster.yaml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())
    config["run_launcher"] = {"module": "seamless_assets.run_launcher", "class": "WarmRunLauncher"}
    config["run_monitoring"] = {
        "enabled": True,
        "poll_interval_seconds": 1,
        "max_resume_run_attempts": 0,
    }
    path.write_text(yaml.safe_dump(config))


def _runs_by_node(instance: dg.DagsterInstance) -> dict[str, dg.DagsterRun]:
    out = {}
    for run in instance.get_runs():
        start = run.tags.get("dagster/asset_partition_range_start") or run.tags.get(
            "dagster/partition", ""
        )
        out[start.split("|")[0]] = run
    return out


def _started(instance: dg.DagsterInstance, node: str) -> dg.DagsterRun | None:
    run = _runs_by_node(instance).get(node)
    if run is not None and run.status == dg.DagsterRunStatus.STARTED and PID_TAG in run.tags:
        return run
    return None


def _cli_started(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if CLI_PROCESS_TAG in run.tags:
            return run
    return None


def _status(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run is not None and run.is_finished else None


def test_warm_runs_terminate_fail_when_killed_and_succeed(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    _warm_instance_yaml(seamless_env.home)
    register_nodes(instance, list(NODES.values()))
    release = tmp_path / "release"
    env = {**seamless_env.subprocess_env(), SLOW_UNTIL_ENV: str(release)}
    with daemon_and_webserver(env, tmp_path) as port:
        for role in LAUNCHED:  # one backfill each: one run each
            launch_partition_backfill(port, "bars_1h", [f"{NODES[role]}|2024"])

        doomed = wait_for("the SLOWC run", lambda: _started(instance, NODES["cancel"]), 120, 0.2)
        result = graphql(port, TERMINATE, {"runId": doomed.run_id})["terminateRun"]
        assert result["__typename"] == "TerminateRunSuccess", result

        victim = wait_for("the SLOWK run", lambda: _started(instance, NODES["kill"]), 120, 0.2)
        assert victim.tags[HOST_TAG] == socket.gethostname()
        os.kill(int(victim.tags[PID_TAG]), signal.SIGKILL)

        assert wait_for("the cancel", lambda: _status(instance, doomed.run_id), 60) == (
            dg.DagsterRunStatus.CANCELED
        )
        assert wait_for("the monitor", lambda: _status(instance, victim.run_id), 60) == (
            dg.DagsterRunStatus.FAILURE
        )
        # A `seamless backfill` runs its run in its own process: killed, the run
        # stayed Started for good (the monitor took it for a code server's run).
        cli = subprocess.Popen(
            [sys.executable, "-m", "seamless_sdk", "backfill", NODES["cli"], "--register",
             "--interval", "1h", "--start", "2024-01-01", "--end", "2024-01-02"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            cli_run = wait_for("the CLI run", lambda: _cli_started(instance), 120, 0.2)
            assert cli_run.tags[CLI_PROCESS_TAG].startswith(f"{cli.pid}:")
        finally:
            cli.kill()
            cli.wait(30)
        assert wait_for("the monitor", lambda: _status(instance, cli_run.run_id), 60) == (
            dg.DagsterRunStatus.FAILURE
        )
        release.touch()  # nothing slow is left to act on
        ok = wait_for("the A run", lambda: _runs_by_node(instance).get(NODES["ok"]), 60)
        assert wait_for("the A run's end", lambda: _status(instance, ok.run_id), 120) == (
            dg.DagsterRunStatus.SUCCESS
        )

    failure = instance.get_records_for_run(
        victim.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    assert "Marking run" in failure[-1].event_log_entry.dagster_event.message  # type: ignore[union-attr]
    ok = instance.get_run_by_id(ok.run_id)  # type: ignore[assignment]
    assert int(ok.tags[PID_TAG]) != os.getpid()
    materialized = instance.get_materialized_partitions(dg.AssetKey("bars_1h"))
    assert f"{NODES['ok']}|2024" in materialized
    assert f"{NODES['kill']}|2024" not in materialized
