"""Run monitoring of ``seamless backfill`` runs: the CLI runs them in its own
process, so a killed CLI (``kill -9``) left its run Started for good and the
SDK's requests for its windows joined a run that would never finish."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import dagster as dg
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from seamless_assets.backfill import _run_args
from seamless_assets.run_launcher import CLI_PROCESS_TAG, HOST_TAG, WarmRunLauncher
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.intervals import parse_interval
from seamless_sdk.pids import process_identity


def _health(tags: dict[str, str], status: DagsterRunStatus = DagsterRunStatus.STARTED) -> str:
    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.add_run(DagsterRun(job_name="bars_1d_job", status=status, tags=tags))
        launcher = WarmRunLauncher()
        launcher.register_instance(instance)
        return launcher.check_run_worker_health(run).status.value


def test_a_cli_run_is_running_while_its_process_lives_and_failed_once_it_is_killed() -> None:
    here = {CLI_PROCESS_TAG: process_identity(os.getpid()), HOST_TAG: socket.gethostname()}
    assert _health(here) == WorkerStatus.RUNNING.value
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tags = {CLI_PROCESS_TAG: process_identity(child.pid), HOST_TAG: socket.gethostname()}
        assert _health(tags) == WorkerStatus.RUNNING.value
    finally:
        child.kill()
        child.wait()
    assert _health(tags) == WorkerStatus.FAILED.value
    assert _health(tags, DagsterRunStatus.SUCCESS) == WorkerStatus.SUCCESS.value
    # A later process given the same pid is not the run's worker.
    assert _health({**here, CLI_PROCESS_TAG: f"{os.getpid()}:1"}) == WorkerStatus.FAILED.value
    elsewhere = {**tags, HOST_TAG: "another-host"}
    assert _health(elsewhere) == WorkerStatus.RUNNING.value  # not this host's to judge


def test_cli_runs_carry_their_process() -> None:
    iv = parse_interval("1d")
    keys = [PartitionKey("demo:A", iv, 1_704_067_200), PartitionKey("demo:B", iv, 1_704_067_200)]
    for chunk in (keys[:1], keys):
        tags = _run_args(chunk)["tags"]
        assert tags[CLI_PROCESS_TAG] == process_identity(os.getpid())
        assert tags[HOST_TAG] == socket.gethostname()
