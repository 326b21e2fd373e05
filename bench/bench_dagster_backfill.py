"""A Dagster backfill against ``fill_window`` alone: launched as the UI launches it, or in process.

Run: ``.venv/bin/python bench/bench_dagster_backfill.py`` (``--help`` for options).

The code location is built from a benchmark-only configuration: one asset of
``--interval`` bars (partitions are node × UTC month for sub-hour bars), the
deterministic synthetic fetcher and every check on (``schema``,
``quality_rules``, ``completeness`` and, unless ``--no-gx``,
``gx_expectations``). Every mode fills the same ``--nodes`` × ``--partitions``
partitions into a fresh store on a fresh Dagster instance:

* **fill_window**: the SDK's ``fill_window`` alone, window by window (no
  Dagster, no checks): the ceiling a Dagster backfill is measured against.
* **daemon** (the default for 1m bars): what a user does in the UI. A
  temporary DAGSTER_HOME with the repository's ``dagster.yaml`` (SQLite, the
  queued run coordinator with ``max_concurrent_runs: 4`` and the
  per-partition tag limit); ``dagster-daemon run`` and ``dagster-webserver``
  as processes on a free port; one ``launchPartitionBackfill`` GraphQL
  mutation over every partition (the mutation the UI's *Materialize…* dialog
  sends). The daemon packs the partitions into runs by the asset's
  ``BackfillPolicy.multi_run(max_partitions_per_run)`` (``--per-run``, else
  the configuration's default) and launches each run as a process. Timed
  from the launch to the end of the last run (the runs' end times as Dagster
  records them), the backfill and
  its runs polled over GraphQL; the check grid is read afterwards (GraphQL
  ``partitionStatuses``, what the UI draws) to count the Passed partitions.
* **one_run**: a single in-process run over the partition range
  ``node0|first`` .. ``nodeN|last`` (``BackfillPolicy.single_run``'s shape).
* **per_partition**: one in-process run per partition (a backfill without a
  backfill policy).

The default is ``fill_window,daemon`` for 1m bars (10 nodes × 12 months,
5,270,400 bars) and ``fill_window,one_run,per_partition`` otherwise (the
300-partition comparison: ``--interval 15m --partitions 30``). It prints wall
time, runs, bars and bars per second for each mode and the ratios: every
Dagster mode against ``fill_window``, and one run against one run per
partition. ``--json`` prints one JSON object instead.

The processes load the code next to this file (its directory's parent goes
first on ``sys.path`` and on the processes' PYTHONPATH), so running a copy
made with ``git archive HEAD`` measures exactly what is committed.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The code of this checkout, ahead of whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg

from seamless_assets import build_definitions, parse_config
from seamless_sdk.backfill.dagster import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    PartitionKey,
    asset_name,
    job_name,
    partition_windows_touching,
    register_nodes,
)
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.check_grid import check_grid
from tests.integration.dagster.processes import (
    backfill_finished,
    daemon_and_webserver,
    launch_partition_backfill,
    make_dagster_home,
    process_env,
    wait_for,
)

REPO = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
MODES = ("fill_window", "daemon", "one_run", "per_partition")


def windows_for(interval: str, start: str, count: int) -> list[tuple[int, int]]:
    """The first ``count`` closed partition windows from ``start``."""
    iv = parse_interval(interval)
    lo = int(datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp())
    found = partition_windows_touching(iv, RangeSet.span(lo, iv.now_edge()))
    if len(found) < count:
        raise SystemExit(f"only {len(found)} closed partitions after {start}")
    return found[:count]


def bench_config(args: argparse.Namespace, root: Path, nodes: list[str]) -> dict[str, Any]:
    """The code location's configuration for one mode (as ``seamless.yaml`` holds it)."""
    return {
        "store": str(root / "bars.sqlite"),
        "partition_start": args.start,
        "intervals": [args.interval],
        "fetcher": "synthetic:1",
        "nodes": nodes,
        "backfill": {
            "retries": 0,
            "gx_check": args.gx,
            # The configuration's own default unless --per-run says otherwise.
            **({"max_partitions_per_run": args.per_run} if args.per_run else {}),
            **({"fetch_concurrency": args.fetch_concurrency} if args.fetch_concurrency else {}),
        },
        # Only the backfill runs: no tail (it would fill today's windows while
        # we time), no reconciliation.
        "sensors": {"tail_windows": 0, "reconcile_s": 86_400},
    }


def stored_bars(config: SeamlessConfig, nodes: list[str], windows: list[tuple[int, int]]) -> int:
    """Bars in the store over the benchmark's windows, all nodes."""
    iv = config.intervals[0]
    with LocalStore(config.store) as store:
        return sum(len(store.read(n, iv, windows[0][0], windows[-1][1])) for n in nodes)


def figures(mode: str, runs: int, partitions: int, bars: int, seconds: float) -> dict[str, Any]:
    """One mode's line of the report."""
    return {
        "mode": mode,
        "runs": runs,
        "partitions": partitions,
        "bars": bars,
        "seconds": round(seconds, 2),
        "bars_per_s": round(bars / seconds),
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
    return figures("fill_window", 0, len(nodes) * len(windows), bars, elapsed)


def run_in_process(
    mode: str, config: SeamlessConfig, home: Path, nodes: list[str], windows: list[tuple[int, int]]
) -> dict[str, Any]:
    """``one_run`` or ``per_partition``: runs executed in this process."""
    iv = config.intervals[0]
    job = build_definitions(config).resolve_job_def(job_name(iv))
    with dg.DagsterInstance.from_config(str(home)) as instance:
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
        materialized = len(instance.get_materialized_partitions(dg.AssetKey(asset_name(iv))))
    return figures(mode, runs, materialized, stored_bars(config, nodes, windows), elapsed)


def run_daemon(
    config_path: Path,
    config: SeamlessConfig,
    home: Path,
    nodes: list[str],
    windows: list[tuple[int, int]],
    timeout_s: float,
) -> dict[str, Any]:
    """A partition backfill launched over GraphQL and carried out by the daemon."""
    iv = config.intervals[0]
    asset = asset_name(iv)
    partitions = [str(PartitionKey(n, iv, ws)) for n in nodes for ws, _ in windows]
    # Registered before the daemon starts, as `seamless nodes add` would, so the
    # launch does not wait for the nodes sensor's first tick.
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register_nodes(instance, nodes)
    log_dir = config_path.parent
    try:
        with daemon_and_webserver(process_env(home, config_path), log_dir) as port:
            launched_at = time.time()
            backfill_id = launch_partition_backfill(
                port, asset, partitions, title="bench_dagster_backfill"
            )
            state = wait_for(
                "the backfill", lambda: backfill_finished(port, backfill_id), timeout_s, 2.0
            )
            grid = check_grid(port, asset)
    except AssertionError:
        for log in sorted(log_dir.glob("*.log")):
            print(f"--- {log}\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    runs = state["runs"]
    failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
    if state["status"] != "COMPLETED_SUCCESS" or failed:
        raise SystemExit(f"backfill {backfill_id} ended {state['status']}; failed runs {failed}")
    last_end = max(float(r["endTime"]) for r in runs)
    first_start = min(float(r["startTime"]) for r in runs)
    bars = stored_bars(config, nodes, windows)
    result = figures("daemon", len(runs), len(partitions), bars, last_end - launched_at)
    result["launch_to_first_run_s"] = round(first_start - launched_at, 2)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        created = sorted(r.create_timestamp.timestamp() for r in instance.get_run_records())
    # The backfill daemon's part of the wait: the runs exist (queued) from then on.
    result["launch_to_runs_created_s"] = [round(created[0] - launched_at, 2),
                                          round(created[-1] - launched_at, 2)]  # fmt: skip
    result["run_seconds"] = sorted(round(r["endTime"] - r["startTime"], 1) for r in runs)
    result["checks"] = {name: dict(Counter(cells.values())) for name, cells in grid.items()}
    return result


def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Fill every partition in ``mode`` on a fresh store and instance; returns figures."""
    root = workdir / mode
    nodes = [f"bench:N{i:02d}" for i in range(args.nodes)]
    home = make_dagster_home(root / "dagster_home")
    raw = bench_config(args, root, nodes)
    config_path = root / "seamless.yaml"
    config_path.write_text(json.dumps(raw, indent=2))  # JSON is YAML
    config = parse_config(raw, source=config_path)
    windows = windows_for(args.interval, args.start, args.partitions)
    if mode == "fill_window":
        return run_fill_window(config.store, nodes, config.intervals[0], windows)
    if mode == "daemon":
        return run_daemon(config_path, config, home, nodes, windows, args.timeout)
    return run_in_process(mode, config, home, nodes, windows)


def code_version() -> str:
    """Which code was measured: the commit of this checkout, or the directory."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(REPO)
    return f"{REPO} @ {sha}"


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the modes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=12, help="windows per node")
    parser.add_argument("--interval", default="1m", help="a sub-hour interval: monthly partitions")
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--gx", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--modes",
        help=f"comma-separated, of {', '.join(MODES)} (default: fill_window,daemon for 1m, "
        "else fill_window,one_run,per_partition)",
    )
    parser.add_argument(
        "--per-run",
        type=int,
        help="backfill.max_partitions_per_run: partitions per run of a UI backfill "
        "(default: the configuration's default)",
    )
    parser.add_argument(
        "--fetch-concurrency",
        type=int,
        help="backfill.fetch_concurrency: partitions of one run filled at once "
        "(default: the configuration's default)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="daemon mode: seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    default = "fill_window,daemon" if args.interval == "1m" else "fill_window,one_run,per_partition"
    modes = [m.strip() for m in (args.modes or default).split(",") if m.strip()]
    if unknown := sorted(set(modes) - set(MODES)):
        parser.error(f"--modes: unknown {unknown}; choose from {', '.join(MODES)}")
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="seamless-bench-") as tmp:
        for mode in modes:
            results[mode] = run_mode(mode, args, Path(tmp))
    ratios: dict[str, float] = {}
    if fill := results.get("fill_window"):
        for mode in ("daemon", "one_run", "per_partition"):
            if mode in results:
                ratios[f"{mode}_of_fill_window"] = round(
                    results[mode]["bars_per_s"] / fill["bars_per_s"], 3
                )
    if "one_run" in results and "per_partition" in results:
        ratios["one_run_over_per_partition"] = round(
            results["one_run"]["bars_per_s"] / results["per_partition"]["bars_per_s"], 2
        )
    if args.json:
        print(json.dumps({"code": code_version(), **results, "ratios": ratios}))
        return 0
    print(
        f"{args.nodes} nodes x {args.partitions} partitions of {args.interval} bars "
        f"(gx_check {'on' if args.gx else 'off'}; code {code_version()})"
    )
    for r in results.values():
        print(
            f"  {r['mode']:>14}: {r['runs']:4d} run(s) {r['partitions']:4d} partitions "
            f"{r['bars']:>9,d} bars {r['seconds']:8.2f} s {r['bars_per_s']:>10,d} bars/s"
        )
    if daemon := results.get("daemon"):
        print(
            f"  daemon: first run started {daemon['launch_to_first_run_s']} s after the launch; "
            f"run seconds {daemon['run_seconds']}"
        )
        first, last = daemon["launch_to_runs_created_s"]
        print(f"  daemon: the runs were created {first}-{last} s after the launch")
        print(f"  daemon: check grid {daemon['checks']}")
    for name, value in ratios.items():
        if name.endswith("_of_fill_window"):
            print(
                f"  {name[: -len('_of_fill_window')]} reaches {value:.0%} of fill_window's bars/s"
            )
    if "one_run_over_per_partition" in ratios:
        print(
            f"  one run is {ratios['one_run_over_per_partition']:.1f}x the bars per second "
            "of one run per partition"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
