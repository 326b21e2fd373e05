"""Read latency of every bar store against a raw query of the same rows, in one run.

Run: ``.venv/bin/python bench/bench_stores.py`` (``--help`` for options).

One run writes ``--days`` days of synthetic 1-minute bars for one node, as
daily writes, into LocalStore and PostgresStore (and QuestDBStore when
``SEAMLESS_QUESTDB_HTTP`` and ``SEAMLESS_QUESTDB_PG`` are set), then reads 1
day and all days ``--repeats`` times each. Every candidate is timed once per
round, round after round, so a busy machine slows them all alike. Per store:

* the store's ``read`` (a stored bar frame);
* its raw baseline on the same server: for LocalStore a plain ``sqlite3``
  ``SELECT`` of the same Arrow chunks plus ``pyarrow`` decode and
  ``to_pandas``; for PostgresStore a plain psycopg query (binary protocol,
  open connection) returning the same chunk bytes; for QuestDBStore a plain
  psycopg query of the same rows;

printed as p50/p95 ms and store/raw, plus each store's p50 over LocalStore's,
and the time to write the days one by one and again in one ``write_many``.
PostgreSQL is the ``pgserver`` wheel's server started on a free TCP port in a
temporary directory (``--pg-dsn`` uses an existing server instead: a schema
of its own, dropped at the end). The SQL view ``read_bars(...)`` (row per
bar, unpacked in SQL) is timed too, for ``docs/stores.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]

from bench_store_reads import D0, DAY, M1, NODE, synthetic_bars  # noqa: E402

from seamless_sdk.stores.base import WindowWrite  # noqa: E402
from seamless_sdk.stores.local import LocalStore  # noqa: E402
from seamless_sdk.stores.postgres import PostgresStore  # noqa: E402

LOCAL_RAW_SQL = """SELECT data FROM chunks
    WHERE node_id = ? AND interval_s = ? AND chunk_start >= ? AND chunk_start < ?
    ORDER BY chunk_start"""
PG_RAW_SQL = """SELECT data FROM {schema}.chunks
    WHERE node_id = %s AND interval_s = %s AND chunk_start >= %s AND chunk_start < %s
    ORDER BY chunk_start"""
PG_VIEW_SQL = "SELECT * FROM {schema}.read_bars(%s, '1m', to_timestamp(%s), to_timestamp(%s))"

Reader = Callable[[int, int], Any]


def interleaved(cands: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    """p50/p95 ms of each candidate, timed once per round for ``repeats`` rounds
    after 10 warm-up rounds."""
    for _ in range(10):
        for fn in cands.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for name, fn in cands.items():
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
    out = {}
    for name, s in samples.items():
        s.sort()
        out[name] = {
            "p50_ms": s[len(s) // 2] * 1e3,
            "p95_ms": s[min(len(s) - 1, int(len(s) * 0.95))] * 1e3,
        }
    return out


def few(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """p50/p95 ms of a slow call (one warm-up, ``repeats`` timed calls)."""
    fn()
    s = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        s.append(time.perf_counter() - t)
    s.sort()
    return {"p50_ms": s[len(s) // 2] * 1e3, "p95_ms": s[-1] * 1e3}


def local_raw(path: Path) -> Reader:
    conn = sqlite3.connect(path, check_same_thread=False)

    def read(start: int, end: int) -> pd.DataFrame:
        blobs = conn.execute(LOCAL_RAW_SQL, (NODE, M1.seconds, start, end)).fetchall()
        return pa.concat_tables([pa.ipc.open_stream(b).read_all() for (b,) in blobs]).to_pandas()

    return read


def pg_raw(dsn: str, schema: str, sql: str) -> Reader:
    import psycopg

    conn = psycopg.connect(dsn, autocommit=True)
    query = sql.format(schema=schema)

    def read(start: int, end: int) -> list[tuple[Any, ...]]:
        if "read_bars" in query:
            params: tuple[Any, ...] = (NODE, start, end)
        else:
            params = (NODE, M1.seconds, start, end)
        return conn.execute(query.encode(), params, binary=True).fetchall()

    return read


@contextmanager
def postgres(dsn: str | None) -> Iterator[tuple[str, str]]:
    """``(dsn, schema)`` of an empty schema: on ``dsn``, or on a server of our own."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        if dsn is None:
            from tests.pg_server import PostgresServer

            server = stack.enter_context(PostgresServer.start(durable=True))
            dsn = server.dsn
        try:
            yield dsn, schema
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@contextmanager
def questdb(tmp: Path) -> Iterator[tuple[Any, Reader] | None]:
    """A QuestDBStore and its raw reader, or ``None`` when not configured."""
    http, pg = os.environ.get("SEAMLESS_QUESTDB_HTTP"), os.environ.get("SEAMLESS_QUESTDB_PG")
    if not (http and pg):
        yield None
        return
    import psycopg

    from seamless_sdk.stores import _questdb_sql
    from seamless_sdk.stores.questdb import QuestDBStore

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    store = QuestDBStore(http, pg, table_prefix=prefix, lock_dir=tmp / "qdb-locks")
    conn = psycopg.connect(pg, autocommit=True)
    query = _questdb_sql.read_sql(prefix, M1)

    def read(start: int, end: int) -> list[tuple[Any, ...]]:
        params = (NODE, _questdb_sql.ts_param(start), _questdb_sql.ts_param(end))
        return conn.execute(query, params, binary=True).fetchall()

    try:
        yield store, read
    finally:
        store.close()
        rows = conn.execute(
            "SELECT table_name FROM tables() WHERE table_name LIKE %s", (f"{prefix}_%",)
        ).fetchall()
        for (table,) in rows:
            conn.execute(f'DROP TABLE IF EXISTS "{table}"'.encode())
        conn.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    # A SIGTERM (timeout, kill) unwinds like Ctrl-C, so the server we started
    # is stopped and its directory removed.
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--pg-dsn", help="an existing PostgreSQL (default: start one)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    lengths = sorted({1, args.days})
    import tempfile

    data = synthetic_bars(D0, D0 + args.days * DAY)
    results: dict[str, Any] = {
        "days": args.days,
        "repeats": args.repeats,
        "writes_ms": {},
        "write_many_ms": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-stores-") as tmp_name,
        postgres(args.pg_dsn) as (dsn, schema),
        questdb(Path(tmp_name)) as qdb,
    ):
        tmp = Path(tmp_name)
        stores: dict[str, Any] = {
            "LocalStore": LocalStore(tmp / "bars.sqlite"),
            "PostgresStore": PostgresStore(dsn, schema=schema),
        }
        raws: dict[str, Reader] = {
            "LocalStore": local_raw(tmp / "bars.sqlite"),
            "PostgresStore": pg_raw(dsn, schema, PG_RAW_SQL),
        }
        if qdb is not None:
            stores["QuestDBStore"], raws["QuestDBStore"] = qdb
        for name, store in stores.items():
            t = time.perf_counter()
            for d in range(args.days):
                lo = D0 + d * DAY
                store.write(NODE, M1, lo, lo + DAY, data.iloc[d * 1440 : (d + 1) * 1440])
            results["writes_ms"][name] = (time.perf_counter() - t) * 1e3
            batch = [
                WindowWrite(
                    NODE, M1, D0 + d * DAY, D0 + (d + 1) * DAY, data.iloc[d * 1440 : (d + 1) * 1440]
                )
                for d in range(args.days)
            ]
            t = time.perf_counter()
            store.write_many(batch)  # the same windows again, in one transaction
            results["write_many_ms"][name] = (time.perf_counter() - t) * 1e3
        view = pg_raw(dsn, schema, PG_VIEW_SQL)
        results["reads"] = {}
        for days in lengths:
            end = D0 + days * DAY
            want = data.iloc[: days * 1440].reset_index(drop=True)
            for name, store in stores.items():
                pd.testing.assert_frame_equal(store.read(NODE, M1, D0, end), want)
                assert len(raws[name](D0, end)) in (days, days * 1440)  # chunks or rows
            cands: dict[str, Callable[[], Any]] = {}
            for name, store in stores.items():
                cands[name] = lambda s=store, e=end: s.read(NODE, M1, D0, e)
                cands[f"{name} raw"] = lambda r=raws[name], e=end: r(D0, e)
            timed = interleaved(cands, args.repeats)
            timed["PostgresStore SQL view"] = few(lambda e=end: view(D0, e), 5)
            results["reads"][str(days)] = {"rows": days * 1440, **timed}
        for store in stores.values():
            store.close()
    report(results, list(stores))
    if args.json:
        print(json.dumps(results))
    return results


def _cell(t: dict[str, float]) -> str:
    return f"{t['p50_ms']:8.3f} / {t['p95_ms']:8.3f}"


def report(results: dict[str, Any], names: list[str]) -> None:
    """Print the table of timings and ratios (of p50s)."""
    print(f"\nreads of 1m bars, ms p50 / p95, {results['repeats']} interleaved rounds")
    print(
        f"{'read':>8} {'rows':>6} | {'store':<13} | {'store':>19} | {'raw query':>19} | "
        f"{'store/raw':>9} | {'/LocalStore':>11}"
    )
    for days, r in results["reads"].items():
        local = r["LocalStore"]["p50_ms"]
        for name in names:
            mine, raw = r[name], r[f"{name} raw"]
            label = days + (" day" if days == "1" else " days")
            print(
                f"{label:>8} {r['rows']:>6} | {name:<13} | {_cell(mine)} | {_cell(raw)} | "
                f"{mine['p50_ms'] / raw['p50_ms']:9.2f} | {mine['p50_ms'] / local:11.2f}"
            )
        print(f"{'':>8} {'':>6} | {'SQL view':<13} | {_cell(r['PostgresStore SQL view'])} |")
    writes = ", ".join(f"{k} {v:.0f} ms" for k, v in results["writes_ms"].items())
    print(f"\nwriting {results['days']} daily windows one by one: {writes}")
    batch = ", ".join(f"{k} {v:.0f} ms" for k, v in results["write_many_ms"].items())
    print(f"the same windows in one write_many: {batch}")


if __name__ == "__main__":
    main()
