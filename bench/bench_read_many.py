"""``read_many`` against 500 ``read`` calls and ArcticDB's ``read_batch``, in one run.

    .venv/bin/python bench/bench_read_many.py [--nodes 500] [--repeats 10]

500 nodes × 1 day of stored 1m bars (720,000 bars). Times, as p50 over the
repeats: one ``read_many`` call (FAIL_FAST, every frame touched), 500 ``read``
calls of the same rows, and ArcticDB's ``read_batch`` of the same rows (its
own virtualenv, LMDB backend; see ``arctic_peer.py``). Prints the ratios and
the load average; targets: read_many ≥ 5× faster than the reads, and faster
than ArcticDB.

It also times the floor of any ``read_many`` answering from this store: the
store's own ``LocalStore.read_many`` of the same rows (one snapshot, every
chunk's bytes checked and copied, one DataFrame per node; no meta, metrics or
log events). Both ``read_many`` and the reads pay that work, so the reads over
the floor is the most ``read_many`` could ever gain on them here.

All three hold their universe until the next repeat, as a strategy holds the
frames it reads: the answer of ``read_many`` and ``read_batch`` is one dict,
and the 500 reads fill one dict too. Holding 500 results is what makes
Python's garbage collector run (tens of young collections and, every few
repeats, a full one of ~250 ms on the busy machine); ``--drop-reads`` drops
each read's result at once instead, as this benchmark first did, which spares
the reads that cost and so measures them against a ``read_many`` that pays it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent))

from arctic_batch_peer import run_batch_peer
from arctic_peer import PeerUnavailable

from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy, SyntheticFetcher

T0 = 1_704_067_200
DAY = 86_400


def _p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--drop-reads",
        action="store_true",
        help="drop each read's result at once instead of holding the universe in a dict",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    nodes = [f"bench:{i:04d}" for i in range(args.nodes)]
    with tempfile.TemporaryDirectory(prefix="seamless-many-") as tmp:
        path = Path(tmp) / "many.sqlite"
        with SeamlessDataProvider(
            LocalStore(path), SyntheticFetcher(seed=1, calls=False), registry=CollectorRegistry()
        ) as p:
            p.read_many(nodes, "1m", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
        reader = SeamlessDataProvider(
            LocalStore(path), None, registry=CollectorRegistry(), source_priority=("storage",)
        )
        store = LocalStore(path, read_only=True)
        many_s, each_s, floor_s = [], [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            results = reader.read_many(nodes, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
            rows = sum(len(r.df) for r in results.values())
            many_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            if args.drop_reads:
                rows_each = sum(
                    len(reader.read(n, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST).df)
                    for n in nodes
                )
            else:
                each = {
                    n: reader.read(n, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
                    for n in nodes
                }
                rows_each = sum(len(r.df) for r in each.values())
            each_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            floor = store.read_many(nodes, "1m", T0, T0 + DAY)
            rows_floor = sum(len(f) for f in floor.values())
            floor_s.append(time.perf_counter() - t)
            del floor  # measured, not held: it is not an answer a strategy keeps
        assert rows == rows_each == rows_floor == args.nodes * 1440
        frames = [results[n].df.assign(node=n) for n in nodes]
        reader.close()
        store.close()
        data = Path(tmp) / "many.arrow"
        import pandas as pd

        table = pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)
        with pa.OSFile(str(data), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        try:
            peer = run_batch_peer(data, args.repeats, log=lambda m: print(m, file=sys.stderr))
        except PeerUnavailable as exc:
            peer = {"error": str(exc)}
    many, each, floor_ms = _p50(many_s), _p50(each_s), _p50(floor_s)
    # The machine is shared: the figures mean little without its load.
    load = " / ".join(f"{a:.1f}-{b:.1f}" for a, b in zip(load_before, os.getloadavg(), strict=True))
    print(f"{args.nodes} nodes x 1 day of 1m bars ({rows:,} bars), p50 of {args.repeats}:")
    print(f"  load average (1/5/15 min, start-end of the run): {load}")
    print(f"  read_many            {many:8.1f} ms")
    print(f"  {args.nodes} x read          {each:8.1f} ms   ({each / many:.1f}x read_many)")
    print(
        f"  floor: store.read_many {floor_ms:6.1f} ms   (bytes checked + a frame per node; "
        f"the reads are {each / floor_ms:.1f}x it, the most read_many can gain)"
    )
    if "p50_ms" in peer:
        print(
            f"  ArcticDB read_batch  {peer['p50_ms']:8.1f} ms   ({peer['p50_ms'] / many:.2f}x "
            f"read_many; arcticdb {peer['arcticdb']}, {peer['rows']:,} bars)"
        )
    else:
        print(f"  ArcticDB read_batch  unavailable: {peer['error']}")


if __name__ == "__main__":
    main()
