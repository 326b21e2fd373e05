"""The distributed single flight under load: repeated multi-host trials and latency.

Run from the repository root (outside CI: it takes minutes)::

    .venv/bin/python bench/bench_coordinator.py               # 20 + 20 trials, ~10 min
    .venv/bin/python bench/bench_coordinator.py --trials 5 --kill-trials 2 --windows 30

It starts one throwaway PostgreSQL (the pgserver wheel, on a free TCP port
when ``tests/pg_server.py`` is there, else its Unix socket) and prints:

* ``--trials`` runs of the 8-host test (tests/integration/test_multihost.py:
  8 spawned processes that share only the database miss the same 3 days):
  duplicate fetches, bars stored twice and hosts with incomplete data, per
  trial and in total (all must be 0);
* ``--kill-trials`` runs of the SIGKILL test: the lease holder killed mid-fetch,
  a second host taking over: fetches completed per window (must be 1), bars
  stored twice, and how long after the lease ran out the successor started;
* claim + complete latency of one host, uncontended (p50/p95, ms);
* 8 hosts x ``--windows`` windows (days of 1m bars) all missed by every host:
  fetches per window, wall time (spawn to exit) and the slowest host's read.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from seamless_sdk.coordination import JobKey, Lease, PostgresCoordinator  # noqa: E402
from seamless_sdk.intervals import parse_interval  # noqa: E402
from tests.integration.test_multihost import (  # noqa: E402
    HOSTS,
    T0,
    Database,
    RunReport,
    run_hosts,
    run_kill,
    stored_bars,
)


@contextmanager
def server() -> Iterator[tuple[str, Callable[[], str], Callable[[str], None]]]:
    """A server's admin DSN and functions to make and drop a database on it."""
    import psycopg

    try:
        from tests.pg_server import PostgresServer
    except ImportError:
        PostgresServer = None

    if PostgresServer is not None:
        pg = PostgresServer.start()
        try:
            yield pg.dsn, pg.create_database, pg.drop_database
        finally:
            pg.stop()
        return
    import tempfile
    import warnings

    from psycopg.conninfo import make_conninfo

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")
        import pgserver
    with tempfile.TemporaryDirectory() as tmp:
        handle = pgserver.get_server(Path(tmp) / "pgdata", cleanup_mode="delete")
        admin = handle.get_uri()

        def create() -> str:
            name = f"b_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return make_conninfo(admin, dbname=name)

        def drop(dsn: str) -> None:
            name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        try:
            yield admin, create, drop
        finally:
            handle.cleanup()


@contextmanager
def database(create: Callable[[], str], drop: Callable[[str], None]) -> Iterator[Database]:
    dsn = create()
    db = Database(dsn)
    try:
        yield db
    finally:
        db.close()
        drop(dsn)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def hosts_trial(db: Database, days: int, delay_s: float) -> tuple[RunReport, int, int]:
    """One 8-host run: its report, bars stored twice, hosts without complete data."""
    report = run_hosts(db, hosts=HOSTS, days=days, fetch_delay_s=delay_s)
    rows, unique, _exact = stored_bars(db, days)
    incomplete = sum(1 for r in report.results if r[1] != days * 1440 or r[2])
    incomplete += HOSTS - len(report.results)
    return report, rows - unique, incomplete


def latency(dsn: str, n: int) -> dict[str, list[float]]:
    """Claim and complete of ``n`` distinct windows by one host, in ms."""
    m1 = parse_interval("1m")
    out: dict[str, list[float]] = {"claim": [], "complete": [], "claim+complete": []}
    with PostgresCoordinator(dsn) as coord:
        coord.coverage_version("lat:warm", m1)  # connect and create the tables first
        for i in range(n + 20):
            key = JobKey.for_chunk(f"lat:{i % 7}", m1, T0 + i * 86_400)
            t0 = time.perf_counter()
            version = coord.coverage_version(key.node_id, m1)
            lease = coord.claim(key, version, key.span)
            t1 = time.perf_counter()
            assert isinstance(lease, Lease)
            coord.complete(lease)
            t2 = time.perf_counter()
            if i >= 20:  # warm-up: prepared statements, connection pool
                out["claim"].append((t1 - t0) * 1000)
                out["complete"].append((t2 - t1) * 1000)
                out["claim+complete"].append((t2 - t0) * 1000)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="8-host runs (default 20)")
    parser.add_argument("--kill-trials", type=int, default=20, help="SIGKILL runs (default 20)")
    parser.add_argument("--windows", type=int, default=100, help="windows of the load run")
    parser.add_argument("--latency-n", type=int, default=500, help="claim+complete samples")
    args = parser.parse_args(argv)
    failures = 0
    with server() as (_admin, create, drop):
        print(f"== {args.trials} trials: {HOSTS} hosts miss the same 3 windows (fetch 0.2 s)")
        totals = [0, 0, 0]
        for trial in range(1, args.trials + 1):
            with database(create, drop) as db:
                report, twice, incomplete = hosts_trial(db, 3, 0.2)
            dup = report.duplicates
            totals = [totals[0] + dup, totals[1] + twice, totals[2] + incomplete]
            print(
                f"trial {trial:2d}: fetches {len(report.fetches)}  duplicate fetches {dup}"
                f"  bars stored twice {twice}  incomplete hosts {incomplete}"
                f"  wall {report.wall_s:.1f} s"
            )
        print(
            f"total: duplicate fetches {totals[0]}, bars stored twice {totals[1]},"
            f" incomplete hosts {totals[2]}"
        )
        failures += sum(totals)

        print(
            f"\n== {args.kill_trials} trials: lease holder SIGKILLed mid-fetch (1 s lease),"
            " a second host takes over"
        )
        kill_bad = 0
        gaps: list[float] = []
        for trial in range(1, args.kill_trials + 1):
            with database(create, drop) as db:
                report = run_kill(db, lease_s=1.0)
                rows, unique, exact = stored_bars(db, 2)
            finished = report.finished_per_window()
            ok = set(finished.values()) == {1} and len(finished) == 2 and exact
            ok = ok and rows == unique == 2 * 1440
            gap = report.takeover_after_lease_s
            ok = ok and gap is not None and gap >= 0
            kill_bad += not ok
            gaps.append(gap if gap is not None else float("nan"))
            print(
                f"trial {trial:2d}: completed fetches per window {sorted(finished.values())}"
                f"  bars {rows} (stored twice {rows - unique})"
                f"  successor started {gap:.3f} s after the lease ran out"
                f"  {'ok' if ok else 'FAILED'}"
            )
        if gaps:
            print(f"total: failed trials {kill_bad}; takeover after expiry p50 "
                  f"{statistics.median(gaps):.3f} s, max {max(gaps):.3f} s")  # fmt: skip
        failures += kill_bad

        print(f"\n== claim + complete latency, one host, {args.latency_n} windows (ms)")
        with database(create, drop) as db:
            lat = latency(db.dsn, args.latency_n)
        for name, values in lat.items():
            print(f"{name:>15}: p50 {pct(values, 0.5):.2f}  p95 {pct(values, 0.95):.2f}")

        print(f"\n== {HOSTS} hosts x {args.windows} windows (days of 1m bars), all missed")
        with database(create, drop) as db:
            report, twice, incomplete = hosts_trial(db, args.windows, 0.0)
        per_window = report.finished_per_window()
        slowest = max(r[4] for r in report.results)
        print(
            f"windows {len(per_window)}  fetches {len(report.fetches)}"
            f"  duplicate fetches {report.duplicates}  bars stored twice {twice}"
            f"  incomplete hosts {incomplete}"
        )
        print(f"wall {report.wall_s:.2f} s (spawn to exit)  slowest host's read {slowest:.2f} s")
        per_host: dict[int, int] = {}
        for host, *_rest in report.fetches:
            per_host[host] = per_host.get(host, 0) + 1
        print("fetches per host: " + ", ".join(f"{h}:{n}" for h, n in sorted(per_host.items())))
        failures += report.duplicates + twice + incomplete
    print("\nOK" if failures == 0 else f"\nFAILURES: {failures}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
