"""Shared pieces of the Dagster integration tests: a temporary DAGSTER_HOME, a config.

Every test here gets its own DAGSTER_HOME (with the repository's
``dagster.yaml``: SQLite storage, the queued run coordinator and its
per-partition limit), its own store file, and a config whose fetcher is
``tests.integration.dagster.fetchers.ScriptedFetcher`` (which logs every fetch to a file,
so fetches are counted across processes).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from seamless_assets import SeamlessConfig, load_config
from seamless_assets.resources import SeamlessResource

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WORKSPACE = str(REPO / "workspace.yaml")

CONFIG = """\
store: store/bars.sqlite
reports: reports
partition_start: "2024-01-01"
intervals: [1h, 1d]
fetcher: "tests.integration.dagster.fetchers:ScriptedFetcher"
nodes:
  - id: "demo:A"
  - id: "demo:B"
backfill:
  max_partitions_per_run: 12
  retries: 0
  fetch_attempts: 1
sensors:
  tail_windows: 0
  requests_s: 2
  nodes_s: 5
  reconcile_s: 3600
"""

Y2024 = (1_704_067_200, 1_735_689_600)
Y2025 = (1_735_689_600, 1_767_225_600)


@dataclass(frozen=True)
class SeamlessEnv:
    """Paths of one test's Dagster home, config, store and fetch log."""

    home: Path
    config_path: Path
    config: SeamlessConfig
    fetch_log: Path

    def subprocess_env(self) -> dict[str, str]:
        """Environment for Dagster processes: this home, this config, our test fetchers."""
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(self.home),
            SEAMLESS_CONFIG=str(self.config_path),
            SEAMLESS_TEST_FETCH_LOG=str(self.fetch_log),
            PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        )
        env.pop("SEAMLESS_STORE", None)
        return env


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str = CONFIG) -> SeamlessEnv:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    config_path = tmp_path / "seamless.yaml"
    config_path.write_text(config)
    fetch_log = tmp_path / "fetches.log"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SEAMLESS_CONFIG", str(config_path))
    monkeypatch.setenv("SEAMLESS_TEST_FETCH_LOG", str(fetch_log))
    monkeypatch.delenv("SEAMLESS_STORE", raising=False)
    return SeamlessEnv(home, config_path, load_config(config_path), fetch_log)


def evaluate_sensor(
    name: str, defs: dg.Definitions, instance: dg.DagsterInstance, config: SeamlessConfig
) -> dg.SensorResult:
    """One tick of a sensor with a real context on ``instance`` (what the daemon does)."""
    sensor = defs.resolve_sensor_def(name)
    resources = {"seamless": SeamlessResource.from_config(config)}
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, sensor_name=name
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` in its own process group for the block; the whole group is
    stopped at the end (SIGTERM, then SIGKILL), failure or not."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; children (code servers, run workers) may linger.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST one GraphQL request to the webserver; returns ``data`` (errors raise)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise AssertionError(f"GraphQL errors: {payload['errors']}")
    return dict(payload["data"])


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float, every_s: float = 0.5) -> Any:
    """Call ``probe`` until it returns something truthy; its value, else AssertionError."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, urllib.error.URLError) as exc:  # not listening yet
            last = exc
        else:
            if last:
                return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


LOCATION = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def location_loaded(port: int) -> bool:
    """Whether the webserver on ``port`` has loaded the ``seamless`` code location
    (a load error fails at once rather than after the timeout)."""
    entries = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"]
    entry = next(e for e in entries if e["name"] == "seamless")
    error = entry["locationOrLoadError"]
    assert error is None or error["__typename"] != "PythonError", error
    return bool(entry["loadStatus"] == "LOADED" and error)


@contextmanager
def webserver(env: SeamlessEnv, log_dir: Path, *, timeout_s: float = 120) -> Iterator[int]:
    """A ``dagster-webserver`` on a free port for the block, the code location
    loaded; yields the port. Stopped (with its code server) at the end."""
    port = free_port()
    cmd = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", WORKSPACE]
    with running(cmd, env.subprocess_env(), log_dir / "webserver.log"):
        wait_for("the code location", lambda: location_loaded(port), timeout_s)
        yield port
