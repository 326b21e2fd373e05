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

It prints wall time, runs, bars and bars per second end to end for each, and
the ratio. Runs launched by the daemon would each also pay a process start
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
from seamless_sdk.intervals import parse_interval
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
            "backfill": {"max_partitions_per_run": 10_000, "retries": 0},
        }
    )
    iv = config.intervals[0]
    nodes = [f"bench:N{i:02d}" for i in range(args.nodes)]
    windows = windows_for(args.interval, args.start, args.partitions)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=30)
    parser.add_argument("--interval", default="15m", help="a sub-hour interval: monthly partitions")
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    with tempfile.TemporaryDirectory(prefix="seamless-bench-") as tmp:
        one = run_mode("one_run", args, Path(tmp))
        many = run_mode("per_partition", args, Path(tmp))
    ratio = one["bars_per_s"] / many["bars_per_s"]
    if args.json:
        print(json.dumps({"one_run": one, "per_partition": many, "ratio": round(ratio, 2)}))
        return 0
    print(f"{args.nodes} nodes x {args.partitions} partitions of {args.interval} bars")
    for r in (one, many):
        print(
            f"  {r['mode']:>14}: {r['runs']:4d} run(s) {r['partitions']:4d} partitions "
            f"{r['bars']:>9,d} bars {r['seconds']:8.2f} s {r['bars_per_s']:>10,d} bars/s"
        )
    print(f"  one run is {ratio:.1f}x the bars per second of one run per partition")
    return 0


if __name__ == "__main__":
    sys.exit(main())
