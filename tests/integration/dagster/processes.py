"""Dagster as real processes: a daemon and a webserver on a free port, and the
GraphQL the UI sends to them.

Shared by the integration tests (through ``support``), the Dagster benchmark
(``bench/bench_dagster_backfill.py``) and the screenshot script
(``docs/screenshots/take_screenshots.py``). It imports neither pytest nor the
code location's definitions (only the run launcher, for its log line), so a
script can use it with nothing but the project installed.
Every process is started in its own process group and the whole group
(webserver or daemon plus the code servers and run workers they spawn) is
stopped when the block ends, failure or not.
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

# The launcher module imports only Dagster, not the code location.
from seamless_assets.run_launcher import READY_MESSAGE, WarmRunLauncher

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WORKSPACE = str(REPO / "workspace.yaml")

# Terminal statuses of a partition backfill (BulkActionStatus).
BACKFILL_DONE = frozenset(
    {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}
)
RUN_DONE = frozenset({"SUCCESS", "FAILURE", "CANCELED"})


def make_dagster_home(path: Path) -> Path:
    """``path`` as a DAGSTER_HOME holding the repository's ``dagster.yaml`` (SQLite
    storage, the queued run coordinator and its per-partition tag limit)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


def process_env(home: Path, config: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for Dagster processes on ``home`` with the Seamless config ``config``.

    The repository goes first on PYTHONPATH so the processes load the code of
    this tree (or of the snapshot this module was imported from), not whatever
    an editable install points at.
    """
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(home),
        SEAMLESS_CONFIG=str(config),
        PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    env.pop("SEAMLESS_STORE", None)  # would override the config's store
    env.update(extra or {})
    return env


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
            stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop ``proc``'s process group: SIGTERM, then SIGKILL for whatever lingers."""
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
def webserver_process(
    env: dict[str, str], log_dir: Path, *, timeout_s: float = 120
) -> Iterator[int]:
    """A ``dagster-webserver`` on a free port for the block, the code location
    loaded; yields the port. Stopped (with its code server) at the end."""
    port = free_port()
    cmd = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", WORKSPACE]
    with running(cmd, env, log_dir / "webserver.log"):
        wait_for("the code location", lambda: location_loaded(port), timeout_s)
        yield port


@contextmanager
def daemon_and_webserver(
    env: dict[str, str], log_dir: Path, *, timeout_s: float = 120
) -> Iterator[int]:
    """``dagster-daemon run`` and a webserver for the block (what ``dagster dev``
    starts, as two processes); yields the webserver's port once the code
    location is loaded and the daemon is warm (below). Both are stopped at the
    end.

    Warm means what a user who opens the UI finds: every daemon has sent a
    healthy heartbeat and, when the instance's ``dagster.yaml`` names
    ``WarmRunLauncher``, its forkserver has imported its preload, so a launch
    is not timed against the daemon's own start-up.
    """
    daemon_log = log_dir / "daemon.log"
    warm_launcher = _names_warm_launcher(Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    with ExitStack() as stack:
        stack.enter_context(
            running([str(BIN / "dagster-daemon"), "run", "-w", WORKSPACE], env, daemon_log)
        )
        port = stack.enter_context(webserver_process(env, log_dir, timeout_s=timeout_s))
        wait_for("healthy daemon heartbeats", lambda: daemons_healthy(port), timeout_s)
        if warm_launcher:
            wait_for(
                "the run launcher's forkserver",
                lambda: READY_MESSAGE in daemon_log.read_text(errors="replace"),
                timeout_s,
                0.2,
            )
        yield port


def _names_warm_launcher(dagster_yaml: Path) -> bool:
    # Parsed, not searched: deploy/dagster.postgres.yaml names WarmRunLauncher
    # in a comment while its launcher is DefaultRunLauncher, which logs no line.
    launcher = (yaml.safe_load(dagster_yaml.read_text()) or {}).get("run_launcher") or {}
    return launcher.get("class") == WarmRunLauncher.__name__


DAEMON_HEALTH = """
{ instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } } }
"""


def daemons_healthy(port: int) -> bool:
    """Whether every required daemon of the instance has a healthy heartbeat."""
    statuses = graphql(port, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return all(s["healthy"] for s in statuses if s["required"])


LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
    ... on PartitionSetNotFoundError { message }
  }
}
"""

BACKFILL_STATE = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status numPartitions timestamp endTimestamp
      runs { runId status startTime endTime }
    }
    ... on PythonError { message }
  }
}
"""


def launch_partition_backfill(
    port: int, asset: str, partitions: list[str], *, title: str | None = None
) -> str:
    """Launch a backfill of ``partitions`` of ``asset`` the way the UI's
    *Materialize…* dialog does (``launchPartitionBackfill`` with an asset
    selection and partition names); returns the backfill id."""
    params: dict[str, Any] = {
        "partitionNames": partitions,
        "assetSelection": [{"path": [asset]}],
        "fromFailure": False,
    }
    if title is not None:
        params["title"] = title
    launched = graphql(port, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise AssertionError(f"launchPartitionBackfill: {launched}")
    return str(launched["backfillId"])


def backfill_state(port: int, backfill_id: str) -> dict[str, Any]:
    """The backfill as *Runs → Backfills* reads it: status, partitions and its runs."""
    result = graphql(port, BACKFILL_STATE, {"id": backfill_id})["partitionBackfillOrError"]
    if result["__typename"] != "PartitionBackfill":
        raise AssertionError(f"partitionBackfillOrError: {result}")
    return dict(result)


def backfill_finished(port: int, backfill_id: str) -> dict[str, Any] | None:
    """The backfill's state once it and every run it launched are finished, else None."""
    state = backfill_state(port, backfill_id)
    if state["status"] not in BACKFILL_DONE:
        return None
    if any(r["status"] not in RUN_DONE for r in state["runs"]):
        return None
    return state
