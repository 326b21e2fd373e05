"""``seamless doctor``: exit 0 on a healthy set-up, 1 on each broken one, with the
failed check named in the table."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher, settings
from seamless_sdk.cli import main
from seamless_sdk.doctor import Status, check_dagster
from seamless_sdk.metrics import Metrics
from seamless_sdk.metrics_server import serve_metrics

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400
T0 = 1_704_067_200


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.DAGSTER_HOME_ENV, raising=False)
    monkeypatch.delenv(settings.STORE_ENV, raising=False)


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    path = tmp_path / "bars.sqlite"
    with SeamlessDataProvider(
        LocalStore(path), SyntheticFetcher(seed=2), registry=CollectorRegistry()
    ) as provider:
        provider.read("demo:A", "1h", T0, T0 + 2 * DAY)
    return path


def _doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthy_with_a_metrics_endpoint(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = CollectorRegistry()
    Metrics(reg).cache_hit()
    with serve_metrics(reg, 0, "127.0.0.1") as server:
        code, out = _doctor(capsys, "--store", str(filled), "--metrics-url", server.url)
    assert code == 0, out
    assert "healthy" in out and "unhealthy" not in out
    for row in ("config", "store opens", "store writable", "store coverage", "metrics endpoint"):
        assert row in out
    assert "DAGSTER_HOME is not set" in out


def test_a_missing_named_store_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _doctor(capsys, "--store", str(tmp_path / "nope.sqlite"))
    assert code == 1
    assert "does not exist" in out and "unhealthy: store opens failed" in out
    assert not (tmp_path / "nope.sqlite").exists()  # the doctor creates nothing


def test_a_file_that_is_not_a_store_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    code, out = _doctor(capsys, "--store", str(path))
    assert code == 1 and "store opens failed" in out


def test_coverage_inconsistent_with_bars_fails(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = sqlite3.connect(filled)
    with conn:
        conn.execute("UPDATE coverage SET range_end = range_end + 86400")
    conn.close()
    code, out = _doctor(capsys, "--store", str(filled))
    assert code == 1
    assert "damaged chunk" in out and "store coverage failed" in out


def test_a_broken_config_fails(
    filled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "seamless.yaml"
    bad.write_text("store: [unclosed\n")
    monkeypatch.setenv(settings.CONFIG_ENV, str(bad))
    code, out = _doctor(capsys, "--store", str(filled))
    assert code == 1 and "config failed" in out
    assert "store writable" in out  # the other checks still ran


def test_a_wrong_dsn_and_dead_endpoints_fail(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()  # nothing listens there
    code, out = _doctor(
        capsys,
        "--store",
        str(filled),
        "--dsn",
        f"postgresql://seamless@127.0.0.1:{port}/nothing?connect_timeout=2",
        "--metrics-url",
        f"http://127.0.0.1:{port}/metrics",
        "--prometheus-url",
        f"http://127.0.0.1:{port}",
    )
    assert code == 1
    assert "coordinator, metrics endpoint, prometheus failed" in out


def test_the_configured_server_store_and_coordinator_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # doctor looked at the LocalStore file beside the config instead, found
    # none (a warning) and said healthy.
    port = _free_port()  # nothing listens there
    dsn = f"postgresql://seamless@127.0.0.1:{port}/nothing?connect_timeout=2"
    config = tmp_path / "seamless.yaml"
    config.write_text(
        f'store: {{kind: postgres, dsn: "{dsn}"}}\ncoordinator: {{kind: postgres, dsn: "{dsn}"}}\n'
    )
    monkeypatch.setenv(settings.CONFIG_ENV, str(config))
    code, out = _doctor(capsys)
    assert code == 1
    assert "store opens, coordinator failed" in out and "PostgresStore" in out


def test_an_empty_file_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "e.sqlite"
    empty.touch()
    code, out = _doctor(capsys, "--store", str(empty))
    assert code == 1 and "is empty" in out
    assert empty.stat().st_size == 0  # doctor changes nothing


def test_an_unwritable_store_fails(filled: Path, tmp_path: Path) -> None:
    """The store on a real read-only bind mount (a private mount namespace; needs root)."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to make a read-only mount")
    folder = filled.parent
    shell = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"{sys.executable} -m seamless_sdk doctor --store {filled}"
    )
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
    )
    if done.returncode != 0 and "mount" in done.stderr and not done.stdout:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "store writable failed" in done.stdout
    assert "opened read-only" in done.stdout


def test_dagster_instance_with_and_without_a_daemon(tmp_path: Path) -> None:
    pytest.importorskip("dagster")
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    down = {c.name: c for c in check_dagster(home)}
    assert down["dagster instance"].status is Status.OK
    assert down["dagster daemon"].status is Status.FAIL
    assert "never" in down["dagster daemon"].detail
    assert down["dagster runs"].status is Status.OK

    # A heartbeat as dagster-daemon writes it, through the instance's own API.
    from dagster import DagsterInstance
    from dagster._daemon.types import DaemonHeartbeat

    instance = DagsterInstance.from_config(str(home))
    try:
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "SENSOR", None, None))
    finally:
        instance.dispose()
    up = {c.name: c for c in check_dagster(home)}
    assert up["dagster daemon"].status is Status.OK and "SENSOR" in up["dagster daemon"].detail
    # The same heartbeat, seen ten minutes later: the daemon is down.
    late = {c.name: c for c in check_dagster(home, now=time.time() + 600)}
    assert late["dagster daemon"].status is Status.FAIL


def test_dagster_home_that_is_not_a_directory_fails(
    filled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(settings.DAGSTER_HOME_ENV, str(tmp_path / "missing"))
    code, out = _doctor(capsys, "--store", str(filled))
    assert code == 1 and "dagster instance failed" in out
