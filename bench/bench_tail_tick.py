"""One tail-sensor tick over many nodes: runs asked for, wall time, Dagster events.

Run: ``.venv/bin/python bench/bench_tail_tick.py`` (``--help`` for options).

Every one of ``--nodes`` registered nodes has its newest 1m window covered up
to ``--new`` bars before the now edge: with ``--month-bars`` (the default)
the covered prefix holds the synthetic bars of the month so far, as a real
tail finds it; with ``--no-month-bars`` it holds none (the tail's own cost
alone). One tick of the tail sensor is evaluated and the runs it asks for are
executed in this process on a fresh SQLite instance, three times:

* **first**: the partitions have no materialization yet, so each is
  recorded (materialization and checks, all of them on, over the window);
* **again**: new bars after that record, with ``tail_record_every_s`` 0 so
  each is recorded again: the Great Expectations check judges only the bars
  since the previous record (the other checks are numpy over the window);
* **quiet**: new bars within ``sensors.tail_record_every_s`` (900 s) of the
  last record: only the bars are written, no event per partition.

It prints the runs, the sensor's and the runs' wall time and the events the
runs wrote to the event log, and a tick with nothing new (no runs).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg

from seamless_assets import build_definitions, parse_config
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.tail import SENSOR_NAME
from seamless_sdk.backfill.dagster import register_nodes
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import empty_bar_frame
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.intervals import window_floor
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import WindowWrite
from seamless_sdk.stores.local import LocalStore

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}

REPO = Path(__file__).resolve().parents[1]


def leave_new_bars(config: SeamlessConfig, nodes: list[str], new: int, bars: bool) -> None:
    """Cover each node's newest window up to ``new`` bars before the edge, with
    the month's synthetic bars in it when ``bars`` (else an empty prefix)."""
    iv = config.intervals[0]
    edge = iv.now_edge()
    ws = window_floor(edge - 1, iv.partition_unit)
    cut = edge - new * iv.seconds
    with LocalStore(config.store) as store:
        for node in nodes:
            store.remove_coverage(node, iv, RangeSet.span(cut if bars else ws, edge))
        if bars:
            fetcher = SyntheticFetcher(1, calls=False)  # what `synthetic:1` builds
            for node in nodes:
                fill_window(store, fetcher, node, iv, ws, cut, policy=FillPolicy())
            return
        store.write_many([WindowWrite(node, iv, ws, cut, empty_bar_frame()) for node in nodes])


def tick(
    config: SeamlessConfig, defs: dg.Definitions, instance: dg.DagsterInstance
) -> tuple[list[dg.RunRequest], float]:
    resources = {"seamless": SeamlessResource.from_config(config)}
    t0 = time.perf_counter()
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, sensor_name=SENSOR_NAME
    ) as context:
        result = defs.resolve_sensor_def(SENSOR_NAME)(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or []), time.perf_counter() - t0


def execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    requests: list[dg.RunRequest],
    kinds: dict[str, int],
) -> tuple[float, int]:
    """Run ``requests`` in process; wall time and events written (counted by type in ``kinds``)."""
    t0 = time.perf_counter()
    events = 0
    for r in requests:
        result = defs.resolve_job_def(str(r.job_name)).execute_in_process(
            instance=instance,
            partition_key=r.partition_key,
            tags=dict(r.tags),
            run_config={**QUIET, **r.run_config},
        )
        assert result.success
        logs = instance.all_logs(result.run_id)
        events += len(logs)
        for entry in logs:
            kind = entry.dagster_event_type.value if entry.dagster_event_type else "log"
            kinds[kind] = kinds.get(kind, 0) + 1
    return time.perf_counter() - t0, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--new", type=int, default=3, help="new 1m bars per node")
    parser.add_argument(
        "--month-bars",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the covered prefix holds the month's bars (else none)",
    )
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    nodes = [f"bench:N{i:03d}" for i in range(args.nodes)]
    with tempfile.TemporaryDirectory(prefix="seamless-tail-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        # The embedded default instance (the repository's dagster.yaml: its
        # SQLite storage is what the tail run's events are written to).
        (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
        os.environ["DAGSTER_HOME"] = str(home)
        configs = {
            every: parse_config(
                {
                    "store": str(Path(tmp) / "bars.sqlite"),
                    "partition_start": "2024-01-01",
                    "intervals": ["1m"],
                    "fetcher": "synthetic:1",
                    "backfill": {"retries": 0},
                    "sensors": {"tail_windows": 1, "tail_record_every_s": every},
                }
            )
            for every in (900, 0)
        }
        with dg.DagsterInstance.get() as instance:
            register_nodes(instance, nodes)
            prefix = "the month's bars" if args.month_bars else "no bars"
            print(
                f"one tail tick over {args.nodes} nodes, {args.new} new 1m bars each "
                f"(covered prefix: {prefix})"
            )
            for label, every in (("first", 900), ("again", 0), ("quiet", 900)):
                config = configs[every]
                defs = build_definitions(config)
                leave_new_bars(config, nodes, args.new, args.month_bars)
                requests, sensor_s = tick(config, defs, instance)
                kinds: dict[str, int] = {}
                run_s, events = execute(defs, instance, requests, kinds)
                print(
                    f"  {label:>9}: {len(requests)} run(s), sensor {sensor_s:.2f} s, "
                    f"runs {run_s:.2f} s, {events} events written"
                )
                top = sorted(kinds.items(), key=lambda kv: -kv[1])[:4]
                print("             " + ", ".join(f"{k} {n}" for k, n in top))
            requests, sensor_s = tick(config, defs, instance)
            print(f"  {'settled':>9}: {len(requests)} run(s), sensor {sensor_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
