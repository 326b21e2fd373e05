"""Run metrics written to a multiprocess directory add up across runs and outlive them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from seamless_assets.run_metrics import RunMetrics, record_partition
from seamless_sdk.config import parse_config
from seamless_sdk.errors import InvalidRequestError

REPO = Path(__file__).resolve().parents[3]


def _served(folder: Path) -> str:
    """What ``seamless metrics serve --multiprocess-dir`` exposes for ``folder``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    return generate_latest(registry).decode()


def _one_run(folder: Path, ident: str, end: int, retries: int) -> None:
    run = RunMetrics(folder, ident, flush_s=60)
    with run.partition("demo:A", "1h"):
        for _ in range(retries):
            run.metrics.backfill_retry("demo:A", "1h")
        run.metrics.backfill_committed("demo:A", "1h", end, 1.0)
        run.metrics.conformance_flags("demo:A", {"BACKFILLED": 24})
    run.close()


def test_two_runs_sum_and_their_live_files_are_gone(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    _one_run(folder, "run-a", end=7200, retries=2)
    _one_run(folder, "run-b", end=3600, retries=1)
    text = _served(folder)
    assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 3.0' in text
    assert 'seamless_conformance_flag_total{flag="BACKFILLED",node_id="demo:A"} 48.0' in text
    # The maximum, not the last run's lower end.
    assert 'backfill_last_timestamp{interval="1h",node_id="demo:A"} 7200.0' in text
    assert 'backfill_completion_ratio{interval="1h",node_id="demo:A"} 1.0' in text
    assert 'seamless_backfill_duration_seconds_count{interval="1h",outcome="success"} 2.0' in text
    assert 'seamless_backfill_windows_total{interval="1h",outcome="success"} 2.0' in text
    # No run is live: its in-progress file went with it.
    assert "backfill_jobs_in_progress{" not in text
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_shared.db",
        "gauge_max_shared.db",
        "gauge_mostrecent_shared.db",
        "histogram_shared.db",
    ]


def test_flushes_add_deltas_and_a_running_job_is_live(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    run = RunMetrics(folder, "run-c", flush_s=60)
    try:
        with run.partition("demo:A", "1h"):
            run.metrics.backfill_retry("demo:A", "1h")
            run.flush()
            text = _served(folder)
            assert 'backfill_jobs_in_progress{interval="1h",node_id="demo:A"} 1.0' in text
            assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 1.0' in text
            run.flush()  # nothing new: the shared counter is not added twice
            assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 1.0' in _served(folder)
            run.metrics.backfill_retry("demo:A", "1h")
    finally:
        run.close()
    text = _served(folder)
    assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 2.0' in text
    assert "backfill_jobs_in_progress{" not in text


def test_failed_partition_is_a_failure_outcome(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    run = RunMetrics(folder, "run-d", flush_s=60)
    assert record_partition(run, "demo:A", "1h", lambda m: m is run.metrics, ok=lambda r: False)
    assert record_partition(None, "demo:A", "1h", lambda m: m is None, ok=lambda r: True)
    run.close()
    text = _served(folder)
    assert 'seamless_backfill_duration_seconds_count{interval="1h",outcome="failure"} 1.0' in text


_WRITER = """
import sys
from pathlib import Path
from seamless_assets.run_metrics import RunMetrics
run = RunMetrics(Path(sys.argv[1]), sys.argv[2], flush_s=0.01)
for _ in range(400):
    run.metrics.backfill_retry("demo:A", "1h")
run.close()
"""


def test_concurrent_run_processes_lose_no_increment(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {"PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), f"run-{i}"], env=env)
        for i in range(3)
    ]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 1200.0' in _served(folder)


def test_config_metrics_section_is_typed_and_relative_to_the_file(tmp_path: Path) -> None:
    config = parse_config({"metrics": {"multiprocess_dir": "m", "flush_s": 2}}, base_dir=tmp_path)
    assert config.metrics.multiprocess_dir == str(tmp_path / "m")
    assert config.metrics.flush_s == 2
    assert parse_config({}, base_dir=tmp_path).metrics.multiprocess_dir is None
    with pytest.raises(InvalidRequestError, match=r"^metrics\.flush_s"):
        parse_config({"metrics": {"flush_s": 0}}, base_dir=tmp_path)
    with pytest.raises(InvalidRequestError, match=r"^metrics\.dir: unknown key"):
        parse_config({"metrics": {"dir": "m"}}, base_dir=tmp_path)


_KILLED = """
import os, sys
from pathlib import Path
from seamless_assets.run_metrics import RunMetrics
run = RunMetrics(Path(sys.argv[1]), f"run-killed-{os.getpid()}", flush_s=60)
run.metrics.backfill_started("demo:A", "1h")
run.metrics.backfill_retry("demo:A", "1h")
run.flush()
os._exit(0)  # as SIGKILL would: no close(), the live file stays
"""


def test_a_killed_runs_live_file_is_pruned_by_the_next_run(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    subprocess.run(
        [sys.executable, "-c", _KILLED, str(folder)], env={"PYTHONPATH": str(REPO)}, check=True
    )
    assert len(list(folder.glob("gauge_livesum_run-killed-*.db"))) == 1
    assert 'backfill_jobs_in_progress{interval="1h",node_id="demo:A"} 1.0' in _served(folder)
    _one_run(folder, "run-next", end=3600, retries=1)
    assert not list(folder.glob("gauge_livesum_*.db"))
    text = _served(folder)
    assert "backfill_jobs_in_progress{" not in text
    assert 'backfill_retry_total{interval="1h",node_id="demo:A"} 2.0' in text  # both counted
