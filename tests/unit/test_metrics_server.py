"""The exporter: serve_metrics, the provider's metrics_port, ``seamless metrics serve``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher
from seamless_sdk.errors import InvalidRequestError, SeamlessError, StoreError
from seamless_sdk.metrics import Metrics
from seamless_sdk.metrics_server import serve_metrics

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _ctrl_c_stops() -> None:
    # The server is started as a terminal would start it: a test run launched
    # as a background job (SIGINT ignored, as shells do without job control)
    # would otherwise hand the ignored SIGINT down, and Ctrl-C could not stop it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_serve_metrics_exposes_the_registry_and_close_frees_the_port() -> None:
    reg = CollectorRegistry()
    Metrics(reg).backfill_retry("demo:A", "1m")
    with serve_metrics(reg, 0, "127.0.0.1") as server:
        assert server.port > 0
        text = _scrape(server.url)
        assert 'backfill_retry_total{interval="1m",node_id="demo:A"} 1.0' in text
    assert server.closed
    assert _refused(server.port)
    server.close()  # idempotent


def test_serve_metrics_rejects_bad_ports_and_a_port_in_use() -> None:
    with pytest.raises(InvalidRequestError, match=r"^port"):
        serve_metrics(CollectorRegistry(), 70_000)
    with (
        serve_metrics(CollectorRegistry(), 0, "127.0.0.1") as server,
        pytest.raises(SeamlessError, match="cannot serve metrics"),
    ):
        serve_metrics(CollectorRegistry(), server.port, "127.0.0.1")


def test_provider_metrics_port_serves_its_reads_until_close(tmp_path: Path) -> None:
    reg = CollectorRegistry()
    provider = SeamlessDataProvider(
        LocalStore(tmp_path / "bars.sqlite"),
        SyntheticFetcher(seed=1),
        registry=reg,
        metrics_port=0,
    )
    server = provider.metrics_server
    assert server is not None
    try:
        provider.read("demo:A", "1h", T0, T0 + DAY)
        text = _scrape(server.url)
        assert 'seamless_reads_total{interval="1h",outcome="complete"' in text
        assert 'seamless_read_source_total{interval="1h",source="backfill"' in text
    finally:
        provider.close()
    assert _refused(server.port)


def test_provider_with_a_busy_port_raises_and_leaks_nothing(tmp_path: Path) -> None:
    with serve_metrics(CollectorRegistry(), 0, "127.0.0.1") as busy:
        store = LocalStore(tmp_path / "bars.sqlite")
        with pytest.raises(SeamlessError, match="cannot serve metrics"):
            SeamlessDataProvider(store, registry=CollectorRegistry(), metrics_port=busy.port)
    # The provider's store was closed by its own cleanup, not left for the GC.
    with pytest.raises(StoreError, match="is closed"):
        store.coverage("demo:A", "1h")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl_c", "sigterm"])
def test_cli_metrics_serve_until_ctrl_c(tmp_path: Path, stop: signal.Signals) -> None:
    # SIGTERM (a service manager's stop) once ended it without closing the server.
    port = _free_port()
    command = ["metrics", "serve", "--port", str(port), "--addr", "127.0.0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seamless_sdk", *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_stops,
        # No config (the repository's names a multiprocess directory): this process's own.
        env={
            **{k: v for k, v in os.environ.items() if k != "SEAMLESS_CONFIG"},
            "PYTHONPATH": str(REPO),
        },
    )
    try:
        text = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                text = _scrape(f"http://127.0.0.1:{port}/metrics")
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        assert "# TYPE seamless_reads_total counter" in text
        assert "# TYPE backfill_jobs_in_progress gauge" in text
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"127.0.0.1:{port}/metrics" in out and "stopped" in out
    assert _refused(port)


_WRITER = """
import sys
from seamless_sdk.metrics import Metrics
m = Metrics()
m.backfill_retry("demo:A", "1m")
m.backfill_committed("demo:A", "1m", 120, 1.0)
m.backfill_finished("demo:A", "1m", float(sys.argv[1]), ok=True)
"""


@pytest.mark.parametrize("named_by", ["flag", "seamless.yaml"])
def test_cli_serves_what_finished_processes_wrote_in_multiprocess_mode(
    tmp_path: Path, named_by: str
) -> None:
    """How a Dagster run's metrics outlive the run: run workers started with
    PROMETHEUS_MULTIPROC_DIR write there; one exporter serves the sum. The
    directory is the flag's, or else ``metrics.multiprocess_dir`` of the config."""
    folder = tmp_path / "prom-multiproc"
    folder.mkdir()
    where = ["--multiprocess-dir", str(folder)]
    if named_by == "seamless.yaml":
        (tmp_path / "seamless.yaml").write_text("metrics:\n  multiprocess_dir: prom-multiproc\n")
        where = []
    env = {**os.environ, "PYTHONPATH": str(REPO), "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    for seconds in ("0.5", "1.5"):  # two runs, both finished before the scrape
        subprocess.run([sys.executable, "-c", _WRITER, seconds], env=env, check=True, timeout=60)
    port = _free_port()
    command = ["metrics", "serve", "--port", str(port), "--addr", "127.0.0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "seamless_sdk", *command, *where],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_stops,
        env={
            k: v for k, v in env.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "SEAMLESS_CONFIG")
        },
    )
    try:
        text = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not text:
            try:
                text = _scrape(f"http://127.0.0.1:{port}/metrics")
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert 'backfill_retry_total{interval="1m",node_id="demo:A"} 2.0' in text
    assert 'seamless_job_retries_total{interval="1m"} 2.0' in text
    assert 'seamless_backfill_duration_seconds_sum{interval="1m",outcome="success"} 2.0' in text
    assert 'backfill_last_timestamp{interval="1m",node_id="demo:A"} 120.0' in text
