"""The change tools against a real Dagster instance: data versions move only where the
content changed (reprocess job, canary promote), and the canary job judges in a run."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets.canary_job import JOB_NAME as CANARY_JOB
from seamless_assets.canary_job import build_canary_job
from seamless_assets.changes_support import record_window
from seamless_assets.location import build_definitions
from seamless_assets.metadata import DATA_VERSION_TAG
from seamless_assets.reprocess_job import JOB_NAME as REPROCESS_JOB
from seamless_assets.reprocess_job import build_reprocess_job
from seamless_sdk.cli import main as cli
from seamless_sdk.config import SeamlessConfig, load_config
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.processes import REPO, daemon_and_webserver, graphql, wait_for
from tests.integration.dagster.support import make_env
from tests.unit.changes.support import fill, fingerprints, keys

CONFIG = """\
store: var/bars.sqlite
partition_start: "2024-01-01"
intervals: [1h]
fetcher: "synthetic:0"
nodes: ["demo:A", "demo:B"]
backfill: {gx_check: false, fetch_attempts: 1}
sensors: {tail_windows: 0}
"""
RANGE = {
    "nodes": ["demo:A", "demo:B"],
    "interval": "1h",
    "start": "2024-01-01",
    "end": "2026-01-01",
}


@pytest.fixture
def location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeamlessConfig]:
    """A location whose fetcher is seed 0 over a store holding seed 1 for demo:A and
    seed 0 for demo:B, every partition reported to a fresh instance (SQLite or
    PostgreSQL storage, as every test of this directory) once."""
    make_env(tmp_path, monkeypatch, config=CONFIG)
    monkeypatch.setenv("SEAMLESS_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    monkeypatch.chdir(tmp_path)
    config = load_config()
    fill(config.store, seed=1, ks=keys(["demo:A"]))
    fill(config.store, seed=0, ks=keys(["demo:B"]))
    with dg.DagsterInstance.get() as instance:
        store = LocalStore(config.store)
        for key in keys():
            record_window(instance, store, key, source="test")
        store.close()
    yield config


def _versions(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """Partition → the data versions of its materializations, oldest first."""
    out: dict[str, list[str]] = {}
    for key in keys():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("bars_1h"), asset_partitions=[str(key)]),
            limit=100,
            ascending=True,
        ).records
        out[str(key)] = [r.asset_materialization.tags[DATA_VERSION_TAG] for r in records]  # type: ignore[union-attr]
    return out


def _defs(config: SeamlessConfig) -> dg.Definitions:
    return dg.Definitions.merge(
        build_definitions(config),
        dg.Definitions(jobs=[build_canary_job(config), build_reprocess_job(config)]),
    )


def test_reprocess_changes_data_versions_only_where_content_changed(
    location: SeamlessConfig,
) -> None:
    before = fingerprints(location.store)
    job = _defs(location).resolve_job_def(REPROCESS_JOB)
    run_config = {"ops": {"seamless_reprocess": {"config": RANGE}}}
    with dg.DagsterInstance.get() as instance:
        first = _versions(instance)
        assert all(len(v) == 1 for v in first.values())
        result = job.execute_in_process(instance=instance, run_config=run_config)
        assert result.output_for_node("seamless_reprocess") == {
            "changed": 2,
            "unchanged": 2,
            "failed": 0,
        }
        after = _versions(instance)
        now = fingerprints(location.store)
        for key in keys():
            name = str(key)
            if key.node_id == "demo:A":  # seed 1 stored, seed 0 fetched: new content
                assert now[name] != before[name]
                assert after[name] == [*first[name], now[name]]
            else:  # already seed 0: no write, no new data version
                assert now[name] == before[name]
                assert after[name] == first[name]
        # Again: nothing changes anywhere.
        again = job.execute_in_process(instance=instance, run_config=run_config)
        assert again.output_for_node("seamless_reprocess")["changed"] == 0
        assert _versions(instance) == after


def test_the_canary_job_fails_a_differing_candidate_and_passes_an_equal_one(
    location: SeamlessConfig,
) -> None:
    job = _defs(location).resolve_job_def(CANARY_JOB)
    config = {**RANGE, "nodes": ["demo:B"]}
    with dg.DagsterInstance.get() as instance:
        bad = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "ops": {"seamless_canary": {"config": {**config, "fetcher": "synthetic:1"}}}
            },
        )
        assert not bad.success
        good = job.execute_in_process(
            instance=instance,
            run_config={
                "ops": {"seamless_canary": {"config": {**config, "fetcher": "synthetic:0"}}}
            },
        )
        report = Path(good.output_for_node("seamless_canary"))
        assert report.is_file() and report.parent.name == good.run_id


def _bytes(path: Path) -> str:
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(
        path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    ).hexdigest()


def test_canary_then_promote_through_the_cli(location: SeamlessConfig, tmp_path: Path) -> None:
    store = location.store
    before, untouched = fingerprints(store), _bytes(store)
    report = tmp_path / "canary.json"
    args = ["canary", "--fetcher", "synthetic:2", *("--nodes", "demo:A", "demo:B")]
    args += ["--interval", "1h", "--start", "2024-01-01", "--end", "2026-01-01"]
    assert cli([*args, "--report", str(report)]) == 1  # every bar differs: the verdict fails
    assert _bytes(store) == untouched
    assert cli(["canary", "promote", str(report)]) == 1  # a failed canary needs --force
    assert _bytes(store) == untouched
    with dg.DagsterInstance.get() as instance:
        first = _versions(instance)
    assert cli(["canary", "promote", str(report), "--force"]) == 0
    now = fingerprints(store)
    with dg.DagsterInstance.get() as instance:
        after = _versions(instance)
    for name in now:
        assert now[name] != before[name]
        assert after[name] == [*first[name], now[name]]
    # Promoting again changes nothing and reports nothing.
    assert cli(["canary", "promote", str(report), "--force"]) == 0
    with dg.DagsterInstance.get() as instance:
        assert _versions(instance) == after


def test_bad_cli_arguments_are_errors_naming_the_field(
    location: SeamlessConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["canary", "--nodes", "demo:A", "--start", "2024-01-01", "--end", "2025-01-01"]) == 1
    assert "fetcher" in capsys.readouterr().out
    base = ["canary", "--fetcher", "synthetic", "--interval", "1h", "--nodes", "demo:A"]
    assert cli([*base, "--start", "2023-01-01", "--end", "2024-06-01"]) == 1
    assert "start: " in capsys.readouterr().out
    assert cli([*base, "--start", "2024-06-01", "--end", "2024-01-01"]) == 1
    assert "end: " in capsys.readouterr().out
    assert cli(["reprocess", "--nodes", "bad node", "--interval", "1h", "--start", "2024-01-01",
                "--end", "2025-01-01"]) == 1  # fmt: skip
    assert "node_id: " in capsys.readouterr().out


def test_the_code_location_offers_both_jobs() -> None:
    """``seamless_assets.definitions`` (what the UI loads) registers the change jobs."""
    from seamless_assets.definitions import defs

    for name in (CANARY_JOB, REPROCESS_JOB):
        assert defs.resolve_job_def(name).name == name


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""


@pytest.mark.slow
def test_the_canary_job_launches_from_the_ui(location: SeamlessConfig, tmp_path: Path) -> None:
    """What the Launchpad does: launchRun over the webserver's GraphQL, the daemon
    dequeues it, the run writes the report."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run_config = {"ops": {"seamless_canary": {"config": {**RANGE, "fetcher": "synthetic:0",
                                                          "nodes": ["demo:B"]}}}}  # fmt: skip
    with daemon_and_webserver(env, tmp_path) as port:
        params = {
            "selector": {
                "repositoryLocationName": "seamless",
                "repositoryName": "__repository__",
                "jobName": CANARY_JOB,
            },
            "runConfigData": run_config,
        }
        launched = graphql(port, LAUNCH_RUN, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        with dg.DagsterInstance.get() as instance:
            run = wait_for(
                "the canary run",
                lambda: (r := instance.get_run_by_id(run_id)) and r.is_finished and r,
                240,
                1.0,
            )
            assert run.status == dg.DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()
    assert (location.store.parent / "canary" / run_id / "report.json").is_file()
