"""The SDK's own costs, against a raw read of the same bytes measured in the same run.

Run: ``.venv/bin/python bench/bench_sdk.py`` (``--help`` for options).

* **storage read**: ``provider.read`` of 1 day (1,440 bars) and 30 days
  (43,200 bars) of stored 1m bars with the cache off, against the raw baseline
  (a plain SELECT of the same Arrow chunk blobs, IPC read, concat,
  ``to_pandas``). Target: ≤ 1.5× raw at 30 days.
* **cache hit**: the same reads answered from the in-memory cache. Target:
  p50 ≤ 0.2 ms for 1 day.
* **backfill throughput**: bars per second through fetch → conform → write
  (``fill_window`` per day window, and a whole AUTO_BACKFILL read), with a
  fetcher that hands out frames made beforehand, so the fetcher's own time is
  excluded. Target: ≥ 500k bars/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).parent))
from bench_store_reads import raw_reader, timed

from seamless_sdk import (
    FillPolicy,
    LocalStore,
    SeamlessDataProvider,
    Strategy,
    SyntheticFetcher,
    fill_window,
    parse_interval,
)

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01
M1 = parse_interval("1m")


class PreparedFetcher:
    """Returns frames generated before the clock started: fetch cost ≈ 0."""

    def __init__(self, nodes: list[str], days: int) -> None:
        source = SyntheticFetcher(seed=1)
        self.frames = {
            (node, T0 + d * DAY): source.generate(node, "1m", T0 + d * DAY, T0 + (d + 1) * DAY)
            for node in nodes
            for d in range(days)
        }
        self.seconds = 0.0

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        t = time.perf_counter()
        frame = self.frames[(node_id, start)]
        self.seconds += time.perf_counter() - t
        return frame


def bench_reads(tmp: Path, days: int, repeats: int) -> dict[str, Any]:
    path = tmp / "reads.sqlite"
    node = "bench:READ"
    fetcher = SyntheticFetcher(seed=1)
    provider = SeamlessDataProvider(
        store=LocalStore(path), fetcher=fetcher, registry=CollectorRegistry()
    )
    provider.ensure_available(node, "1m", T0, T0 + days * DAY, strategy=Strategy.AUTO_BACKFILL)
    raw = raw_reader(path, node)
    out: dict[str, Any] = {}
    for label, end in (("1 day", T0 + DAY), (f"{days} days", T0 + days * DAY)):
        storage = timed(
            lambda e=end: provider.read(
                node, "1m", T0, e, strategy=Strategy.FAIL_FAST, source_priority=("storage",)
            ),
            repeats,
        )
        baseline = timed(lambda e=end: raw(T0, e), repeats)
        provider.read(node, "1m", T0, end)  # warm the cache
        cached = timed(
            lambda e=end: provider.read(node, "1m", T0, e, strategy=Strategy.FAIL_FAST), repeats
        )
        out[label] = {"raw": baseline, "sdk storage": storage, "sdk cache hit": cached}
    provider.close()
    return out


def bench_backfill(tmp: Path, nodes: int, days: int) -> dict[str, Any]:
    names = [f"bench:N{i}" for i in range(nodes)]
    fetcher = PreparedFetcher(names, days)
    bars = nodes * days * 1440
    store = LocalStore(tmp / "fill.sqlite")
    warm = PreparedFetcher(["bench:WARM"], 1)
    # Imports and first-call caches.
    fill_window(store, warm, "bench:WARM", M1, T0, T0 + DAY, policy=FillPolicy())
    t = time.perf_counter()
    for node in names:
        for d in range(days):
            fill_window(
                store, fetcher, node, M1, T0 + d * DAY, T0 + (d + 1) * DAY, policy=FillPolicy()
            )
    fill_s = time.perf_counter() - t - fetcher.seconds
    store.close()

    fetcher.seconds = 0.0
    provider = SeamlessDataProvider(
        store=LocalStore(tmp / "read.sqlite"), fetcher=fetcher, registry=CollectorRegistry()
    )
    t = time.perf_counter()
    for node in names:
        provider.ensure_available(node, "1m", T0, T0 + days * DAY, strategy=Strategy.AUTO_BACKFILL)
    read_s = time.perf_counter() - t - fetcher.seconds
    provider.close()
    return {
        "bars": bars,
        "fill_window bars/s": bars / fill_s,
        "AUTO_BACKFILL read bars/s": bars / read_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--nodes", type=int, default=4)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        reads = bench_reads(Path(tmp), args.days, args.repeats)
        fills = bench_backfill(Path(tmp), args.nodes, args.days)
    print(f"{'read':<10} {'path':<15} {'p50 ms':>8} {'p95 ms':>8} {'× raw p50':>10}")
    for label, rows in reads.items():
        raw_p50 = rows["raw"]["p50_ms"]
        for path, t in rows.items():
            print(
                f"{label:<10} {path:<15} {t['p50_ms']:>8.3f} {t['p95_ms']:>8.3f} "
                f"{t['p50_ms'] / raw_p50:>10.2f}"
            )
    print(f"\nbackfill of {fills['bars']:,} 1m bars (fetcher time excluded):")
    for key in ("fill_window bars/s", "AUTO_BACKFILL read bars/s"):
        print(f"  {key:<28} {fills[key]:>12,.0f}")


if __name__ == "__main__":
    main()
