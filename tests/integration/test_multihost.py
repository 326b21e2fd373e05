"""Hosts simulated honestly: processes that share nothing but a PostgreSQL server.

Each host is a spawned process with a working directory of its own and no
file in common with the others: its bars go to a ``PostgresStore`` and its
fills claim windows from a ``PostgresCoordinator``, both on the server. The
hosts also start together (a ready table), log every fetch (a fetch table)
and report what they read (a results table) through PostgreSQL, so nothing
but the database connects them.

- Eight hosts miss the same windows: each window is fetched exactly once in
  all, and every host reads complete, identical data.
- The host holding a lease is SIGKILLed in the middle of its fetch: another
  host takes the window over once the lease runs out, the window is fetched
  to completion once, no bar is stored twice and nothing committed is lost.

``bench/bench_coordinator.py`` runs :func:`run_hosts` in a loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from seamless_sdk.coordination.schema import DDL as COORDINATOR_DDL
from tests.unit.coordination import pg

# A database of the test's own on the session's server (pytest finds fixtures by name).
dsn = pg.dsn

pytestmark = pytest.mark.slow

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01 00:00 UTC, a chunk boundary of 1m bars
NODE = "demo:MH"
HOSTS = 8
_TABLES = """
CREATE TABLE IF NOT EXISTS mh_ready (host int PRIMARY KEY);
CREATE TABLE IF NOT EXISTS mh_fetches (
    id bigserial PRIMARY KEY, host int NOT NULL, window_start bigint NOT NULL,
    window_end bigint NOT NULL, started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz);
CREATE TABLE IF NOT EXISTS mh_results (
    host int PRIMARY KEY, rows int NOT NULL, missing jsonb NOT NULL, digest text NOT NULL,
    read_s float8 NOT NULL);
"""


@dataclass(frozen=True)
class HostPlan:
    """What one host process does (picklable: it crosses the spawn)."""

    host: int
    dsn: str
    store_schema: str
    workdir: str
    days: int
    hosts: int
    lease_s: float = 5.0
    fetch_delay_s: float = 0.2
    hang_on_day: int | None = None
    """Day whose fetch never returns (the host is killed during it)."""
    wait_for_ready: bool = True


class LoggedFetcher:
    """Synthetic bars; every fetch is logged in ``mh_fetches`` (start, then finish)."""

    def __init__(self, plan: HostPlan) -> None:
        import psycopg

        from seamless_sdk.fetchers import SyntheticFetcher

        self.plan = plan
        self.bars = SyntheticFetcher(seed=11, calls=False)
        self.conn = psycopg.connect(plan.dsn, autocommit=True)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        (fetch_id,) = self.conn.execute(
            "INSERT INTO mh_fetches (host, window_start, window_end) VALUES (%s, %s, %s)"
            " RETURNING id",
            (self.plan.host, start, end),
        ).fetchone()
        if self.plan.hang_on_day is not None and start == T0 + self.plan.hang_on_day * DAY:
            time.sleep(3600)  # "in the middle of its fetch": the test SIGKILLs us here
        time.sleep(self.plan.fetch_delay_s)
        frame = self.bars.fetch(node_id, interval, start, end)
        self.conn.execute(
            "UPDATE mh_fetches SET finished_at = clock_timestamp() WHERE id = %s", (fetch_id,)
        )
        return frame


def host_main(plan: HostPlan) -> None:
    """One host: wait until all are ready, read ``plan.days`` days, report."""
    os.chdir(plan.workdir)  # nothing is written here: the store is the database
    import psycopg
    from prometheus_client import CollectorRegistry

    from seamless_sdk import SeamlessDataProvider, SLAPolicy, Strategy
    from seamless_sdk.coordination import PostgresCoordinator
    from seamless_sdk.stores.postgres import PostgresStore

    fetcher = LoggedFetcher(plan)
    provider = SeamlessDataProvider(
        store=PostgresStore(plan.dsn, schema=plan.store_schema),
        fetcher=fetcher,
        strategy=Strategy.AUTO_BACKFILL,
        sla=SLAPolicy(max_attempts=1),
        registry=CollectorRegistry(),
        coordinator=PostgresCoordinator(plan.dsn, lease_s=plan.lease_s, holder=f"host{plan.host}"),
    )
    with provider, psycopg.connect(plan.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO mh_ready (host) VALUES (%s)", (plan.host,))
        while plan.wait_for_ready:
            (ready,) = conn.execute("SELECT count(*) FROM mh_ready").fetchone()
            if ready >= plan.hosts:
                break
            time.sleep(0.005)
        t0 = time.perf_counter()
        result = provider.read(NODE, "1m", T0, T0 + plan.days * DAY)
        read_s = time.perf_counter() - t0
        conn.execute(
            "INSERT INTO mh_results (host, rows, missing, digest, read_s)"
            " VALUES (%s, %s, %s, %s, %s)",
            (plan.host, len(result.df), json.dumps(result.meta.missing.to_list()),
             _digest(result.df), read_s),
        )  # fmt: skip
    fetcher.conn.close()


def _digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy()).hexdigest()


@dataclass(frozen=True)
class RunReport:
    """What a run of hosts did, read back from the database."""

    fetches: list[tuple[int, int, int, bool]]  # (host, start, end, finished)
    results: list[tuple[int, int, list[list[int]], str, float]]
    wall_s: float
    takeover_after_lease_s: float | None = None
    """Kill runs: how long after the dead holder's lease ran out its successor
    started fetching (never negative: nobody takes a live lease)."""

    def finished_per_window(self) -> dict[tuple[int, int], int]:
        counts: dict[tuple[int, int], int] = {}
        for _host, start, end, finished in self.fetches:
            counts[(start, end)] = counts.get((start, end), 0) + int(finished)
        return counts

    @property
    def duplicates(self) -> int:
        """Fetches beyond the first of a window, over all hosts."""
        per_window: dict[tuple[int, int], int] = {}
        for _host, start, end, _finished in self.fetches:
            per_window[(start, end)] = per_window.get((start, end), 0) + 1
        return sum(n - 1 for n in per_window.values())


class Database:
    """The test's tables and the store's schema on one server; dropped by ``close``."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self.dsn = dsn
        self.store_schema = f"bars_{uuid.uuid4().hex[:12]}"
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute(_TABLES)
        self.conn.execute(COORDINATOR_DDL)  # so the test can watch job rows from the start

    def reset(self) -> None:
        """Empty every table between two runs (the store's schema is new each time)."""
        self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.store_schema}" CASCADE')
        self.store_schema = f"bars_{uuid.uuid4().hex[:12]}"
        self.conn.execute("TRUNCATE mh_ready, mh_fetches, mh_results")
        self.conn.execute("DROP TABLE IF EXISTS backfill_jobs, backfill_coverage_versions")
        self.conn.execute(COORDINATOR_DDL)

    def report(self, wall_s: float) -> RunReport:
        fetches = self.conn.execute(
            "SELECT host, window_start, window_end, finished_at IS NOT NULL FROM mh_fetches"
            " ORDER BY id"
        ).fetchall()
        results = self.conn.execute(
            "SELECT host, rows, missing, digest, read_s FROM mh_results ORDER BY host"
        ).fetchall()
        return RunReport([tuple(f) for f in fetches], [tuple(r) for r in results], wall_s)

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        self.conn.execute(f'DROP SCHEMA IF EXISTS "{self.store_schema}" CASCADE')
        self.conn.close()


def _start(ctx: Any, plan: HostPlan) -> Any:
    proc = ctx.Process(target=host_main, args=(plan,), name=f"host{plan.host}")
    proc.start()
    return proc


def _stop_all(procs: list[Any]) -> None:
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    for proc in procs:
        proc.join(10)


def run_hosts(
    db: Database, *, hosts: int = HOSTS, days: int = 3, fetch_delay_s: float = 0.2,
    timeout_s: float = 300,
) -> RunReport:  # fmt: skip
    """Start ``hosts`` processes that all read the same ``days``; wait for them."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="seamless-hosts-") as root:
        plans = [
            HostPlan(
                host=i,
                dsn=db.dsn,
                store_schema=db.store_schema,
                workdir=str(Path(root, f"host{i}")),
                days=days,
                hosts=hosts,
                fetch_delay_s=fetch_delay_s,
            )
            for i in range(hosts)
        ]
        for plan in plans:
            Path(plan.workdir).mkdir()
        t0 = time.perf_counter()
        procs = [_start(ctx, plan) for plan in plans]
        try:
            deadline = time.monotonic() + timeout_s
            for proc in procs:
                proc.join(max(0.0, deadline - time.monotonic()))
            codes = [proc.exitcode for proc in procs]
        finally:
            _stop_all(procs)
        wall_s = time.perf_counter() - t0
        for plan in plans:  # the hosts wrote nothing in their own directories
            assert list(Path(plan.workdir).iterdir()) == [], plan.workdir
    assert codes == [0] * hosts, codes
    return db.report(wall_s)


def run_kill(db: Database, *, lease_s: float = 1.0) -> RunReport:
    """Host 0 fills day 0 and hangs in its fetch of day 1 (a ``lease_s`` lease,
    renewed); host 1 reads both days and waits for day 1; host 0 is SIGKILLed.
    Returns what they did; asserts the harness's own expectations."""
    ctx = mp.get_context("spawn")
    day1 = T0 + DAY
    with tempfile.TemporaryDirectory(prefix="seamless-hosts-") as root:
        common: dict[str, Any] = {
            "dsn": db.dsn, "store_schema": db.store_schema, "days": 2, "hosts": 1,
            "wait_for_ready": False, "fetch_delay_s": 0.0,
        }  # fmt: skip
        (Path(root) / "a").mkdir()
        (Path(root) / "b").mkdir()
        victim = _start(
            ctx, HostPlan(host=0, workdir=f"{root}/a", lease_s=lease_s, hang_on_day=1, **common)
        )
        procs = [victim]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                running = db.scalar(
                    "SELECT count(*) FROM backfill_jobs j JOIN mh_fetches f"
                    " ON f.window_start = j.window_start AND f.host = 0"
                    " WHERE j.state = 'RUNNING' AND j.window_start = %s", day1
                )  # fmt: skip
                done = db.scalar("SELECT count(*) FROM backfill_jobs WHERE state = 'SUCCEEDED'")
                if running == 1 and done == 1:
                    break
                assert victim.is_alive()
                time.sleep(0.05)
            else:
                raise AssertionError("host 0 never got to the middle of its second fetch")
            # Host 1 misses the same two days: day 0 is there, day 1 is held by host 0,
            # whose renewals keep its lease alive while host 1 waits for it.
            rescuer = _start(ctx, HostPlan(host=1, workdir=f"{root}/b", **common))
            procs.append(rescuer)
            while db.scalar("SELECT count(*) FROM mh_ready WHERE host = 1") == 0:
                assert rescuer.is_alive() and time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(1.5 * lease_s)  # past the lease: only host 0's renewals keep it
            assert db.scalar("SELECT holder FROM backfill_jobs WHERE state = 'RUNNING'") == "host0"
            assert db.scalar("SELECT count(*) FROM mh_fetches WHERE host = 1") == 0
            victim.kill()  # SIGKILL
            victim.join(10)
            assert victim.exitcode == -9
            killed_at = time.perf_counter()
            dead_until = db.scalar(
                "SELECT extract(epoch FROM lease_until)::float8 FROM backfill_jobs"
                " WHERE window_start = %s", day1
            )  # fmt: skip
            rescuer.join(120)
            assert rescuer.exitcode == 0
        finally:
            _stop_all(procs)
    report = db.report(time.perf_counter() - killed_at)
    started = db.scalar(
        "SELECT extract(epoch FROM started_at)::float8 FROM mh_fetches"
        " WHERE host = 1 AND window_start = %s", day1
    )  # fmt: skip
    gap = None if started is None or dead_until is None else started - dead_until
    return dataclasses.replace(report, takeover_after_lease_s=gap)


def stored_bars(db: Database, days: int) -> tuple[int, int, bool]:
    """(bars stored, distinct timestamps, coverage is exactly the days) of the store."""
    from seamless_sdk.intervals import parse_interval
    from seamless_sdk.ranges import RangeSet
    from seamless_sdk.stores.postgres import PostgresStore

    m1 = parse_interval("1m")
    with PostgresStore(db.dsn, schema=db.store_schema) as store:
        bars = store.read(NODE, m1, T0 - DAY, T0 + (days + 1) * DAY)
        exact = store.coverage(NODE, m1) == RangeSet([(T0, T0 + days * DAY)])
    return len(bars), int(bars["ts"].nunique()), exact


# -- fixtures -------------------------------------------------------------------
@pytest.fixture
def db(dsn: str) -> Iterator[Database]:
    pytest.importorskip("seamless_sdk.stores.postgres")
    database = Database(dsn)
    try:
        yield database
    finally:
        database.close()


# -- tests ----------------------------------------------------------------------
def test_eight_hosts_fetch_each_window_once_and_all_read_complete_data(db: Database) -> None:
    report = run_hosts(db, hosts=HOSTS, days=3)
    windows = [(T0 + d * DAY, T0 + (d + 1) * DAY) for d in range(3)]
    assert sorted((s, e) for _h, s, e, _f in report.fetches) == windows
    assert report.duplicates == 0
    assert report.finished_per_window() == dict.fromkeys(windows, 1)
    assert [r[0] for r in report.results] == list(range(HOSTS))
    assert {r[1] for r in report.results} == {3 * 1440}
    assert all(r[2] == [] for r in report.results)
    assert len({r[3] for r in report.results}) == 1  # every host read the same bars
    jobs = db.conn.execute(
        "SELECT state, expirations FROM backfill_jobs ORDER BY window_start"
    ).fetchall()
    assert jobs == [("SUCCEEDED", 0)] * 3
    assert stored_bars(db, 3) == (3 * 1440, 3 * 1440, True)  # no bar stored twice


def test_a_killed_lease_holder_is_taken_over_once_its_lease_runs_out(db: Database) -> None:
    report = run_kill(db, lease_s=1.0)
    day0, day1 = (T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)
    assert sorted((h, s, f) for h, s, _e, f in report.fetches) == [
        (0, day0[0], True),  # host 0 filled day 0 ...
        (0, day1[0], False),  # ... and was killed fetching day 1
        (1, day1[0], True),  # host 1 took day 1 over; day 0 was not fetched again
    ]
    assert report.finished_per_window() == {day0: 1, day1: 1}
    assert report.results[0][:3] == (1, 2 * 1440, [])
    # Host 1 started fetching only after the dead host's lease had run out.
    assert report.takeover_after_lease_s is not None and report.takeover_after_lease_s >= 0
    jobs = db.conn.execute(
        "SELECT window_start, state, holder, expirations FROM backfill_jobs ORDER BY window_start"
    ).fetchall()
    assert jobs == [(day0[0], "SUCCEEDED", "host0", 0), (day1[0], "SUCCEEDED", "host1", 1)]
    assert stored_bars(db, 2) == (2 * 1440, 2 * 1440, True)  # nothing lost, nothing twice
