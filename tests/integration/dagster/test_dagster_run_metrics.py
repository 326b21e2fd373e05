"""A Dagster run's backfill metrics outlive the run: real run, real exporter, real Prometheus.

The code location is configured with ``metrics.multiprocess_dir``; runs are
executed in process on a temporary instance, and only after they have ended
is the directory served (what ``seamless metrics serve --multiprocess-dir``
does) and scraped by a real Prometheus, whose HTTP API must return the series.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from seamless_assets import build_definitions
from seamless_sdk.backfill.dagster import register_nodes
from seamless_sdk.metrics_server import serve_metrics
from tests import prometheus_server
from tests.integration.dagster.support import CONFIG, make_env
from tests.prometheus_server import PrometheusServer

METRICS_CONFIG = (
    CONFIG.replace("  fetch_attempts: 1\n", "  fetch_attempts: 2\n  fetch_backoff_ms: 0\n")
    .replace('  - id: "demo:B"\n', '  - id: "demo:B"\n  - id: "demo:FAIL"\n')
    .replace("backfill:\n", "backfill:\n  gx_check: false\n")
    + "metrics:\n  multiprocess_dir: metrics\n  flush_s: 0.2\n"
)


def _value(rows: list[dict[str, object]]) -> float:
    assert len(rows) == 1, rows
    return float(rows[0]["value"][1])  # type: ignore[index]


def test_run_metrics_are_scraped_after_the_runs_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = prometheus_server.missing()
    if reason is not None:
        pytest.skip(reason)
    env = make_env(tmp_path, monkeypatch, METRICS_CONFIG)
    folder = tmp_path / "metrics"
    assert env.config.metrics.multiprocess_dir == str(folder)
    defs = build_definitions(env.config)
    job = defs.resolve_job_def("bars_1h_job")
    with dg.DagsterInstance.get() as instance:
        register_nodes(instance, ["demo:A", "demo:FAIL"])
        ok = job.execute_in_process(instance=instance, partition_key="demo:A|2024")
        assert ok.success
        failed = job.execute_in_process(
            instance=instance, partition_key="demo:FAIL|2024", raise_on_error=False
        )
        assert not failed.success
    # Both runs are over: nothing of theirs is live any more, their numbers stay.
    assert not list(folder.glob("gauge_livesum_*.db"))

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))
    with (
        serve_metrics(registry, port=0, addr="127.0.0.1") as server,
        PrometheusServer.start([f"127.0.0.1:{server.port}"]) as prom,
    ):
        a = '{node_id="demo:A",interval="1h"}'
        bad = '{node_id="demo:FAIL",interval="1h"}'
        prom.wait_for(f"backfill_completion_ratio{a}", lambda rows: len(rows) == 1)
        assert _value(prom.query(f"backfill_completion_ratio{a}")) == 1.0
        # The end of 2024's last committed window (the year's last day).
        assert _value(prom.query(f"backfill_last_timestamp{a}")) == 1_735_689_600
        assert _value(prom.query(f"seamless_backfill_fetch_total{a}")) >= 1
        flags = prom.query('seamless_conformance_flag_total{node_id="demo:A",flag="BACKFILLED"}')
        assert _value(flags) == 366 * 24
        # demo:FAIL: every fetch refused, retried once each, then a failed window.
        assert _value(prom.query(f"backfill_retry_total{bad}")) >= 1
        assert _value(prom.query(f"backfill_failure_total{bad}")) >= 1
        # No run is in progress: the ended runs' live gauges are gone, not stuck at 1.
        assert prom.query(f"backfill_jobs_in_progress{a}") == []
        durations = prom.query('seamless_backfill_duration_seconds_count{interval="1h"}')
        assert {r["metric"]["outcome"]: float(r["value"][1]) for r in durations} == {
            "success": 1.0,
            "failure": 1.0,
        }
        windows = prom.query('seamless_backfill_windows_total{interval="1h"}')
        by_outcome = {r["metric"]["outcome"]: float(r["value"][1]) for r in windows}
        assert by_outcome["success"] >= 1 and by_outcome["failure"] >= 1
        # The series API lists them too (what a dashboard's label picker asks).
        series = prom.api("series", **{"match[]": "backfill_last_timestamp"})
        assert {s["node_id"] for s in series} >= {"demo:A"}
