"""Health checks behind ``seamless doctor``: each returns :class:`Check` rows.

A check never raises for the condition it inspects: a broken store, an
unreachable endpoint or a missing daemon is a ``FAIL`` row with the reason.
``DoctorReport.healthy`` is true when no row failed (``WARN`` and ``SKIP``
rows do not fail the verdict). Dagster is imported only inside
:func:`check_dagster`, so the SDK still imports no Dagster at import time.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from seamless_sdk.errors import SeamlessError

HTTP_TIMEOUT_S = 3.0
"""How long an HTTP check waits for the endpoint."""
HEARTBEAT_MAX_AGE_S = 120.0
"""A daemon heartbeat older than this means the daemon is down (Dagster's
daemons beat every 30 s)."""
STUCK_RUN_S = 3600.0
"""A run started longer ago than this and still running is reported as stuck."""


class Status(StrEnum):
    """The outcome of one check."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the report: what was checked, its status and why."""

    name: str
    status: Status
    detail: str


@dataclass(frozen=True, slots=True)
class DoctorReport:
    """Every check that ran, in order."""

    checks: tuple[Check, ...]

    @property
    def healthy(self) -> bool:
        """True when no check failed."""
        return all(c.status is not Status.FAIL for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        """The failed checks."""
        return tuple(c for c in self.checks if c.status is Status.FAIL)


def check_server_store(config: Any) -> list[Check]:
    """The server store of ``seamless.yaml`` (a ``PostgresStoreConfig`` or
    ``QuestDBStoreConfig``) opens: it answers, and its tables are there (a
    first open creates them, as any fill would). Its checksums are not
    LocalStore's, so there is no coverage check."""
    try:
        store = config.open()
    except Exception as exc:  # any driver's error is this check failing, never a crash
        return [Check("store opens", Status.FAIL, f"{config.describe()}: {exc}")]
    store.close()
    return [Check("store opens", Status.OK, config.describe())]


def check_store(path: Path, *, required: bool = True) -> list[Check]:
    """The LocalStore at ``path`` opens, is writable and its coverage matches its
    bars (``LocalStore.verify()``). A missing file fails when ``required``
    (named explicitly), else warns: it is created by the first fill. Nothing is
    created or changed."""
    from seamless_sdk.stores.local import LocalStore

    if not path.exists():
        status = Status.FAIL if required else Status.WARN
        return [Check("store opens", status, f"{path} does not exist")]
    if path.is_file() and path.stat().st_size == 0:  # opening it would make it a store
        return [Check("store opens", Status.FAIL, f"{path} is empty: not a store")]
    try:
        store = LocalStore(path)
    except SeamlessError as exc:
        return [Check("store opens", Status.FAIL, str(exc))]
    try:
        checks = [Check("store opens", Status.OK, str(path))]
        if not store.read_only:
            checks.append(Check("store writable", Status.OK, "fills can commit"))
        else:
            # LocalStore falls back to read-only when the file, its directory or
            # the file system refuses writes: reads work, no fill can commit.
            detail = "opened read-only: the file, its directory or its file system is not writable"
            checks.append(Check("store writable", Status.FAIL, detail))
        try:
            damaged = store.verify()
        except SeamlessError as exc:
            checks.append(Check("store coverage", Status.FAIL, str(exc)))
        else:
            if damaged:
                checks.append(
                    Check(
                        "store coverage",
                        Status.FAIL,
                        f"{len(damaged)} damaged chunk(s): run `seamless store repair`",
                    )
                )
            else:
                checks.append(Check("store coverage", Status.OK, "every chunk matches coverage"))
        return checks
    finally:
        store.close()


def check_coordinator(dsn: str) -> Check:
    """The PostgreSQL coordinator at ``dsn`` answers (and how many windows it quarantined)."""
    from seamless_sdk.coordination import commands

    try:
        quarantined = commands.list_quarantined(dsn)
    except SeamlessError as exc:
        return Check("coordinator", Status.FAIL, str(exc))
    detail = f"reachable, {len(quarantined)} quarantined window(s)"
    return Check("coordinator", Status.WARN if quarantined else Status.OK, detail)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        return str(response.read().decode("utf-8", errors="replace"))


def check_metrics(url: str) -> Check:
    """The exporter at ``url`` answers with Prometheus text carrying Seamless families."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = _get(url)
        names = {f.name for f in text_string_to_metric_families(text)}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Check("metrics endpoint", Status.FAIL, f"{url}: {exc}")
    ours = sorted(n for n in names if n.startswith(("seamless_", "backfill_")))
    if not ours:
        return Check("metrics endpoint", Status.FAIL, f"{url} serves no Seamless metric")
    return Check("metrics endpoint", Status.OK, f"{url}: {len(ours)} Seamless families")


def check_prometheus(url: str) -> Check:
    """Prometheus at ``url`` (its root) reports ready."""
    ready = url.rstrip("/") + "/-/ready"
    try:
        _get(ready)
    except (urllib.error.URLError, OSError) as exc:
        return Check("prometheus", Status.FAIL, f"{ready}: {exc}")
    return Check("prometheus", Status.OK, f"{url} is ready")


def check_dagster(home: Path | None, *, now: float | None = None) -> list[Check]:
    """The Dagster instance under ``home`` (``$DAGSTER_HOME``): it opens, a daemon
    heartbeat is fresh, how many runs are queued, and no run is stuck."""
    if home is None:
        return [Check("dagster instance", Status.SKIP, "DAGSTER_HOME is not set")]
    if not home.is_dir():
        return [Check("dagster instance", Status.FAIL, f"DAGSTER_HOME {home} is not a directory")]
    try:
        with warnings.catch_warnings():
            # Dagster's own deprecation notices say nothing about this instance's health.
            warnings.simplefilter("ignore")
            from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

            instance = DagsterInstance.from_config(str(home))
    except ImportError as exc:
        return [Check("dagster instance", Status.FAIL, f"install seamless[dagster]: {exc}")]
    except Exception as exc:  # a bad dagster.yaml or an unreachable database
        return [Check("dagster instance", Status.FAIL, f"{home}: {exc}")]
    now = time.time() if now is None else now
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            total = instance.get_runs_count()
            beats = instance.get_daemon_heartbeats()
            queued = instance.get_runs_count(RunsFilter(statuses=[DagsterRunStatus.QUEUED]))
            started = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    except Exception as exc:  # the instance's storage does not answer
        return [Check("dagster instance", Status.FAIL, f"{home}: {exc}")]
    finally:
        instance.dispose()
    checks = [Check("dagster instance", Status.OK, f"{home}: {total} run(s)")]
    fresh = sorted(t for t, b in beats.items() if now - b.timestamp <= HEARTBEAT_MAX_AGE_S)
    if fresh:
        checks.append(Check("dagster daemon", Status.OK, f"heartbeats from {', '.join(fresh)}"))
    else:
        last = max((b.timestamp for b in beats.values()), default=None)
        when = "never" if last is None else f"{now - last:.0f} s ago"
        checks.append(
            Check("dagster daemon", Status.FAIL, f"no fresh heartbeat (last: {when}); is "
                  "dagster-daemon running?")
        )  # fmt: skip
    stuck = [r for r in started if r.start_time is not None and now - r.start_time > STUCK_RUN_S]
    status = Status.WARN if stuck else Status.OK
    checks.append(
        Check(
            "dagster runs",
            status,
            f"{queued} queued, {len(started)} running, {len(stuck)} running over "
            f"{STUCK_RUN_S / 3600:.0f} h",
        )
    )
    return checks


def run_checks(
    *,
    config_check: Check,
    store: Path,
    store_required: bool,
    server_store: Any = None,
    dsn: str | None = None,
    metrics_url: str | None = None,
    prometheus_url: str | None = None,
    dagster_home: Path | None = None,
) -> DoctorReport:
    """Every check, in the order the table shows them (``server_store``: the
    config's server store, checked instead of the LocalStore at ``store``)."""
    checks: list[Check] = [config_check]
    if server_store is not None:
        checks += check_server_store(server_store)
    else:
        checks += check_store(store, required=store_required)
    if dsn is not None:
        checks.append(check_coordinator(dsn))
    if metrics_url is not None:
        checks.append(check_metrics(metrics_url))
    if prometheus_url is not None:
        checks.append(check_prometheus(prometheus_url))
    checks += check_dagster(dagster_home)
    return DoctorReport(tuple(checks))


def summarize(checks: Sequence[Check]) -> str:
    """The verdict line: healthy, or the failed checks by name."""
    failed = [c.name for c in checks if c.status is Status.FAIL]
    return "healthy" if not failed else f"unhealthy: {', '.join(failed)} failed"
