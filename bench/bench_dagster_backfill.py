"""A Dagster backfill of nodes × partitions as one run versus one run per partition.

Run: ``.venv/bin/python bench/bench_dagster_backfill.py`` (``--help`` for options).

The code location is built from a benchmark-only configuration: one asset of
``--interval`` bars (default 15m, so its partitions are months) and the
deterministic synthetic fetcher. Both modes fill the same ``--nodes`` ×
``--partitions`` partitions (default 10 × 30 = 300 partitions, about 876,000
bars) into a fresh store, on a fresh SQLite Dagster instance, with the runs
executed in this process (the CLI's ``run_backfill`` path):

* **one run**: a single run over the partition range ``node0|first`` ..
  ``node9|last`` (Dagster's ``BackfillPolicy.single_run`` shape);
* **per partition**: one run per partition (what a backfill without a
  backfill policy launches).

* **fill_window**: the SDK's ``fill_window`` alone over the same partitions
  (no Dagster, no checks), the ceiling a Dagster backfill is measured against.

It prints wall time, runs, bars and bars per second end to end for each, and
the ratios (one run against one run per partition, and one run against
``fill_window``). ``--gx/--no-gx`` turns the Great Expectations check on or
off. Runs launched by the daemon would each also pay a process start
(several seconds on a small machine), so the real gap is larger than here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from seamless_assets import build_definitions, parse_config
from seamless_sdk.backfill.dagster import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    PartitionKey,
    job_name,
    partition_windows_touching,
    register_nodes,
)
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def windows_for(interval: str, start: str, count: int) -> list[tuple[int, int]]:
    iv = parse_interval(interval)
    lo = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp())
    found = partition_windows_touching(iv, RangeSet.span(lo, iv.now_edge()))
    if len(found) < count:
        raise SystemExit(f"only {len(found)} closed partitions after {start}")
    return found[:count]


def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Fill every partition in ``mode`` on a fresh store and instance; returns figures."""
    home = workdir / mode / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = parse_config(
        {
            "store": str(workdir / mode / "bars.sqlite"),
            "partition_start": args.start,
            "intervals": [args.interval],
            "fetcher": "synthetic:1",
            "backfill": {
                "max_partitions_per_run": 10_000,
                "retries": 0,
                "gx_check": args.gx,
            },
        }
    )
    iv = config.intervals[0]
    nodes = [f"bench:N{i:02d}" for i in range(args.nodes)]
    windows = windows_for(args.interval, args.start, args.partitions)
    if mode == "fill_window":
        return run_fill_window(config.store, nodes, iv, windows)
    job = build_definitions(config).resolve_job_def(job_name(iv))
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:
        register_nodes(instance, nodes)
        t0 = time.perf_counter()
        runs = 0
        if mode == "one_run":
            tags = {
                RANGE_START_TAG: str(PartitionKey(nodes[0], iv, windows[0][0])),
                RANGE_END_TAG: str(PartitionKey(nodes[-1], iv, windows[-1][0])),
            }
            assert job.execute_in_process(instance=instance, tags=tags, run_config=QUIET).success
            runs = 1
        else:
            for node in nodes:
                for ws, _ in windows:
                    result = job.execute_in_process(
                        instance=instance,
                        partition_key=str(PartitionKey(node, iv, ws)),
                        run_config=QUIET,
                    )
                    assert result.success
                    runs += 1
        elapsed = time.perf_counter() - t0
        materialized = len(instance.get_materialized_partitions(dg.AssetKey(job.name[:-4])))
    with LocalStore(config.store) as store:
        bars = sum(len(store.read(n, iv, windows[0][0], windows[-1][1])) for n in nodes)
    return {
        "mode": mode,
        "runs": runs,
        "partitions": materialized,
        "bars": bars,
        "seconds": round(elapsed, 2),
        "bars_per_s": round(bars / elapsed),
    }


def run_fill_window(
    path: Path, nodes: list[str], iv: Interval, windows: list[tuple[int, int]]
) -> dict[str, Any]:
    """``fill_window`` alone, window by window, with the fingerprint the asset uses."""
    fetcher = SyntheticFetcher(1, calls=False)  # what `synthetic:1` builds for the asset
    with LocalStore(path) as store:
        t0 = time.perf_counter()
        bars = 0
        for node in nodes:
            for ws, we in windows:
                bars += fill_window(store, fetcher, node, iv, ws, we, policy=FillPolicy()).rows
        elapsed = time.perf_counter() - t0
    return {
        "mode": "fill_window",
        "runs": 0,
        "partitions": len(nodes) * len(windows),
        "bars": bars,
        "seconds": round(elapsed, 2),
        "bars_per_s": round(bars / elapsed),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=30)
    parser.add_argument("--interval", default="15m", help="a sub-hour interval: monthly partitions")
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--gx", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--per-partition",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run one run per partition (slow: about 1 s a run)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    with tempfile.TemporaryDirectory(prefix="seamless-bench-") as tmp:
        fill = run_mode("fill_window", args, Path(tmp))
        one = run_mode("one_run", args, Path(tmp))
        many = run_mode("per_partition", args, Path(tmp)) if args.per_partition else None
    of_fill = one["bars_per_s"] / fill["bars_per_s"]
    ratio = one["bars_per_s"] / many["bars_per_s"] if many else None
    if args.json:
        print(
            json.dumps(
                {
                    "fill_window": fill,
                    "one_run": one,
                    "per_partition": many,
                    "one_run_of_fill_window": round(of_fill, 3),
                    "ratio": round(ratio, 2) if ratio else None,
                }
            )
        )
        return 0
    print(
        f"{args.nodes} nodes x {args.partitions} partitions of {args.interval} bars "
        f"(gx_check {'on' if args.gx else 'off'})"
    )
    for r in (fill, one, *([many] if many else [])):
        print(
            f"  {r['mode']:>14}: {r['runs']:4d} run(s) {r['partitions']:4d} partitions "
            f"{r['bars']:>9,d} bars {r['seconds']:8.2f} s {r['bars_per_s']:>10,d} bars/s"
        )
    print(f"  one run reaches {of_fill:.0%} of fill_window's bars per second")
    if ratio is not None:
        print(f"  one run is {ratio:.1f}x the bars per second of one run per partition")
    return 0


if __name__ == "__main__":
    sys.exit(main())
