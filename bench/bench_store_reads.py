"""Read latency of LocalStore against a raw read of the same bytes and ArcticDB.

Run: ``.venv/bin/python bench/bench_store_reads.py`` (``--help`` for options).

One run writes ``--days`` days of synthetic 1-minute bars for one node as
daily writes, then times, ``--repeats`` times each after a warm-up:

* ``LocalStore.read`` of the first day and of all days;
* the raw baseline: a plain ``SELECT`` of the same Arrow chunk blobs on an open
  ``sqlite3`` connection, ``pyarrow`` IPC read, concat and ``to_pandas``;
* ArcticDB (LMDB) reading the same ranges of the same bars written as daily
  appends, in its own venv (``bench/arctic_peer.py``); skipped with a reason if
  it cannot be installed;
* the CRC-32 that ``LocalStore.read`` verifies for every chunk, timed alone
  over the same blobs (its share of the LocalStore column);
* and an atomic 1-day replace through ``LocalStore.write``.

It prints p50/p95 in milliseconds and the ratios LocalStore/raw and
LocalStore/ArcticDB (below 1 means LocalStore is faster).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
D0 = 19_723 * DAY  # 2024-01-01 UTC
NODE = "bench:BTCUSDT"
M1 = parse_interval("1m")
RAW_SQL = """SELECT data FROM chunks
    WHERE node_id = ? AND interval_s = ? AND chunk_start >= ? AND chunk_start < ?
    ORDER BY chunk_start"""


def synthetic_bars(start: int, end: int, seed: int = 7) -> pd.DataFrame:
    """One stored bar frame of a random-walk market, a bar every minute."""
    ts = np.arange(start, end, 60, dtype=np.int64)
    rng = np.random.default_rng(seed)
    close = 40_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, len(ts))))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wiggle = np.abs(rng.normal(0, 2e-4, len(ts))) * close
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns"),
            "open": open_,
            "high": np.maximum(open_, close) + wiggle,
            "low": np.minimum(open_, close) - wiggle,
            "close": close,
            "volume": rng.gamma(2.0, 3.0, len(ts)),
            "flags": np.zeros(len(ts), dtype=np.int32),
        }
    )


def timed(
    fn: Callable[[], Any], repeats: int, gap_ms: float = 0.0, warmup: int = 20
) -> dict[str, float]:
    """p50/p95 in ms of ``repeats`` calls after ``warmup`` calls, each timed call
    after an idle pause of ``gap_ms`` (0: back to back)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        time.sleep(gap_ms / 1e3)
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2] * 1e3,
        "p95_ms": samples[min(len(samples) - 1, int(len(samples) * 0.95))] * 1e3,
    }


def raw_reader(path: Path, node: str = NODE) -> Callable[[int, int], pd.DataFrame]:
    """The baseline: the same blobs through a plain connection and pyarrow."""
    conn = sqlite3.connect(path, check_same_thread=False)

    def read(start: int, end: int) -> pd.DataFrame:
        blobs = conn.execute(RAW_SQL, (node, M1.seconds, start, end)).fetchall()
        tables = [pa.ipc.open_stream(b).read_all() for (b,) in blobs]
        return pa.concat_tables(tables).to_pandas()

    return read


def arctic(
    data: pd.DataFrame, tmp: Path, days: list[int], repeats: int, gap_ms: float
) -> dict[str, Any]:
    """ArcticDB's timings, or ``{"error": why}``."""
    spec = importlib.util.spec_from_file_location(
        "arctic_peer", Path(__file__).with_name("arctic_peer.py")
    )
    assert spec and spec.loader
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    arrow_file = tmp / "bars.arrow"
    table = pa.Table.from_pandas(data.drop(columns="flags"), preserve_index=False)
    with pa.OSFile(str(arrow_file), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    try:
        return peer.run_peer(
            arrow_file, days, repeats, gap_ms, log=lambda m: print(m, file=sys.stderr)
        )
    except (peer.PeerUnavailable, OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=500)
    parser.add_argument(
        "--gap-ms",
        type=float,
        default=0.0,
        help="idle pause before each timed read (caches cool down; 0 = back to back)",
    )
    parser.add_argument("--no-arctic", action="store_true", help="skip the ArcticDB peer")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)
    lengths = sorted({1, args.days})

    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp_name:
        tmp = Path(tmp_name)
        data = synthetic_bars(D0, D0 + args.days * DAY)
        store = LocalStore(tmp / "bars.sqlite")
        t = time.perf_counter()
        for d in range(args.days):
            lo, hi = D0 + d * DAY, D0 + (d + 1) * DAY
            store.write(NODE, M1, lo, hi, data.iloc[d * 1440 : (d + 1) * 1440])
        results: dict[str, Any] = {
            "write_all_ms": (time.perf_counter() - t) * 1e3,
            "gap_ms": args.gap_ms,
            "reads": {},
        }

        raw = raw_reader(store.path)
        for days in lengths:
            end = D0 + days * DAY
            local_frame, raw_frame = store.read(NODE, M1, D0, end), raw(D0, end)
            pd.testing.assert_frame_equal(local_frame, raw_frame)
            assert len(local_frame) == days * 1440
            n, gap = args.repeats, args.gap_ms
            with closing(sqlite3.connect(store.path)) as conn:
                blobs = [b for (b,) in conn.execute(RAW_SQL, (NODE, M1.seconds, D0, end))]
            results["reads"][str(days)] = {
                "rows": len(local_frame),
                "local": timed(lambda e=end: store.read(NODE, M1, D0, e), n, gap),
                "raw": timed(lambda e=end: raw(D0, e), n, gap),
                "crc": timed(lambda b=blobs: [zlib.crc32(x) for x in b], n, gap),
            }
        mid = args.days // 2
        day = data.iloc[mid * 1440 : (mid + 1) * 1440]
        lo = D0 + mid * DAY
        results["replace_1d"] = timed(
            lambda: store.write(NODE, M1, lo, lo + DAY, day), min(args.repeats, 300)
        )
        store.close()
        results["arctic"] = (
            {"error": "skipped (--no-arctic)"}
            if args.no_arctic
            else arctic(data, tmp, lengths, args.repeats, args.gap_ms)
        )
    report(results)
    if args.json:
        print(json.dumps(results))
    return results


def _cell(t: dict[str, float] | None) -> str:
    return "—" if t is None else f"{t['p50_ms']:7.3f} / {t['p95_ms']:7.3f}"


def report(results: dict[str, Any]) -> None:
    """Print the table of timings and ratios."""
    peer = results["arctic"]
    gap = f", {results['gap_ms']:g} ms idle before each read" if results["gap_ms"] else ""
    print(f"\nread latency, ms p50 / p95{gap} (ratios of p50; < 1: LocalStore is faster)")
    header = f"{'read':>8} {'rows':>7} | {'LocalStore':>17} | {'raw SQLite+Arrow':>17} | "
    print(header + f"{'ArcticDB (LMDB)':>17} | {'Local/raw':>9} | {'Local/Arctic':>12}")
    for days, r in results["reads"].items():
        local, raw = r["local"], r["raw"]
        arc = peer.get("reads", {}).get(days)
        if arc is not None and arc["rows"] != r["rows"]:
            arc = None  # not the same read: don't compare
        ratio_arc = f"{local['p50_ms'] / arc['p50_ms']:12.2f}" if arc else f"{'—':>12}"
        print(
            f"{days + (' day' if days == '1' else ' days'):>8} {r['rows']:>7} | {_cell(local)} | "
            f"{_cell(raw)} | {_cell(arc)} | {local['p50_ms'] / raw['p50_ms']:9.2f} | {ratio_arc}"
        )
    for days, r in results["reads"].items():
        print(f"of which CRC-32 of the {days}-day read's chunks: {_cell(r['crc'])} ms")
    print(f"\natomic 1-day replace (LocalStore.write): {_cell(results['replace_1d'])} ms")
    print(f"writing all days as daily writes: {results['write_all_ms']:.1f} ms")
    if "error" in peer:
        print(f"ArcticDB not measured: {peer['error']}")
    else:
        print(
            f"ArcticDB {peer['arcticdb']} (pandas {peer['pandas']}), "
            f"{peer['appends']} daily appends in {peer['write_all_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()
