"""Shared pieces of the Dagster integration tests: a temporary DAGSTER_HOME, a config.

Every test here gets its own DAGSTER_HOME (with the repository's
``dagster.yaml``: SQLite storage, the queued run coordinator and its
per-partition limit; or, in the ``[postgres]`` run of a test,
``deploy/dagster.postgres.yaml`` on a database of its own), its own store
file, and a config whose fetcher is
``tests.integration.dagster.fetchers.ScriptedFetcher`` (which logs every fetch
to a file, so fetches are counted across processes).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import SeamlessConfig, load_config
from seamless_assets.resources import SeamlessResource

# The process helpers live in `processes` (no pytest there, so the benchmark and
# the screenshot script share them); the tests keep importing them from here.
from tests.integration.dagster.processes import (  # noqa: F401  (re-exported)
    BIN,
    LOCATION,
    REPO,
    WORKSPACE,
    free_port,
    graphql,
    location_loaded,
    running,
    wait_for,
    webserver_process,
)

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


_instance_pg_url: list[str] = []
"""The dagster-postgres URL of the running test's instance, or empty for
SQLite; set by the ``dagster_storage`` fixture (conftest.py)."""


def use_postgres_instance(url: str | None) -> None:
    """Make :func:`make_env` give the test's DAGSTER_HOME the PostgreSQL instance
    (``deploy/dagster.postgres.yaml`` with ``DAGSTER_PG_URL=url``); None: SQLite."""
    _instance_pg_url[:] = [url] if url else []


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str = CONFIG) -> SeamlessEnv:
    home = tmp_path / "dagster_home"
    home.mkdir()
    if _instance_pg_url:
        shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_URL", _instance_pg_url[0])
    else:
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


@contextmanager
def webserver(env: SeamlessEnv, log_dir: Path, *, timeout_s: float = 120) -> Iterator[int]:
    """A ``dagster-webserver`` on a free port for the block, the code location
    loaded; yields the port. Stopped (with its code server) at the end."""
    with webserver_process(env.subprocess_env(), log_dir, timeout_s=timeout_s) as port:
        yield port
