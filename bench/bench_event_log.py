"""Dagster's SQLite event log against Seamless's: milliseconds per stored event.

Run: ``.venv/bin/python bench/bench_event_log.py [--events 200] [--runs 20]``.

Both instances in this one process, each on a fresh temporary home: stock
``DagsterSqliteStorage`` (a ``dagster.yaml`` with no ``storage`` key) and the
repository's ``dagster.yaml`` (``SeamlessSqliteStorage``,
``seamless_assets/instance_storage.py``). For each:

* **runless**: ``--events`` materializations, then ``--events`` asset-check
  evaluations, through ``report_runless_asset_event``: ms per event;
* **in run**: ``--runs`` in-process runs of one partition of an asset with four
  asset checks (what a Seamless partition writes: one materialization and four
  check evaluations, plus Dagster's run and step events): ms per run and per
  stored event (all of the run's events).

Each storage is warmed by a few events first; the order alternates over
``--rounds`` and the best round is printed. Ratios are Seamless / stock (below
1: faster).

At 7782213, when run shards kept their connection too (a write touches the
run's ``.db`` mtime for the watchdog), two runs back to back on a quieter
2-core machine (stock / Seamless, ms):

=====================================  ===============  ===============
figure                                 run 1            run 2
=====================================  ===============  ===============
materialization, per event             10.91 / 1.46     9.90 / 1.50
check evaluation, per event            12.38 / 0.84     12.17 / 1.03
in-run, per run (1 asset + 4 checks)   442.7 / 163.6    511.1 / 186.2
in-run, per stored event (32 a run)    13.83 / 5.11     15.97 / 5.82
=====================================  ===============  ===============

Ratios 0.13-0.15, 0.07-0.08 and 0.36-0.37; the code before that change
(6334ec2) gave 0.39-0.46, 0.19-0.28 and 0.47-0.55 on the same machine.

Earlier, on the 2-core development machine (dagster 1.13.27, SQLAlchemy
2.1.9), two runs back to back (stock / Seamless, ms; other test suites were
running on the machine, so the absolute figures are noisy, the ratios less):

=====================================  ===============  ===============
figure                                 run 1            run 2
=====================================  ===============  ===============
materialization, per event             11.44 / 4.91     9.37 / 4.28
check evaluation, per event            14.31 / 4.33     12.34 / 3.37
in-run, per run (1 asset + 4 checks)   502.5 / 287.7    531.2 / 269.6
in-run, per stored event (32 a run)    15.70 / 8.99     16.60 / 8.43
=====================================  ===============  ===============

Ratios 0.43-0.46 (materialization), 0.27-0.30 (check evaluation), 0.51-0.57
(whole run: its other 27 events are run and step events, written to the run's
shard only, where each transaction then opened and closed its connection so
the webserver's watchdog saw the run's ``.db`` change). Before new run shards
were copied from a template the whole-run ratio was 0.60-0.61.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[1]
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
STOCK_YAML = "telemetry:\n  enabled: false\n"
KEY = dg.AssetKey("bars_15m")
PARTITIONS = dg.DynamicPartitionsDefinition(name="bench_partitions")


@dg.asset(partitions_def=PARTITIONS, name="bars_15m")
def bars(context) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 96, "fp": context.partition_key})


def _check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=bars, name=name)
    def _c() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True, metadata={"rows": 96})

    return _c


DEFS = dg.Definitions(
    assets=[bars], asset_checks=[_check(n) for n in ("schema", "gaps", "ohlc", "volume")]
)


def _runless(instance: dg.DagsterInstance, n: int, tag: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    for i in range(n):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(KEY, partition=f"{tag}{i}", metadata={"rows": i})
        )
    t1 = time.perf_counter()
    for i in range(n):
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=KEY, check_name="schema", passed=True, partition=f"{tag}{i}"
            )
        )
    t2 = time.perf_counter()
    return 1000 * (t1 - t0) / n, 1000 * (t2 - t1) / n


def _in_run(instance: dg.DagsterInstance, runs: int, tag: str) -> tuple[float, float]:
    job = DEFS.resolve_implicit_global_asset_job_def()
    keys = [f"{tag}{i}" for i in range(runs)]
    instance.add_dynamic_partitions(PARTITIONS.name, keys)  # type: ignore[arg-type]
    events = 0
    elapsed = 0.0
    for key in keys:
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, partition_key=key, run_config=QUIET)
        elapsed += time.perf_counter() - t0
        assert result.success
        events += len(instance.all_logs(result.run_id))
    return 1000 * elapsed / runs, 1000 * elapsed / events


def measure(yaml: str, events: int, runs: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="seamless-evlog-"))
    try:
        (home / "dagster.yaml").write_text(yaml)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _runless(instance, 5, "warm")
            _in_run(instance, 2, "warm")
            mat, chk = _runless(instance, events, "p")
            run, per_event = _in_run(instance, runs, "r")
            storage = type(instance.event_log_storage).__name__
        return {"storage": storage, "mat": mat, "check": chk, "run": run, "run_event": per_event}  # type: ignore[dict-item]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="runless events of each kind")
    parser.add_argument("--runs", type=int, default=20, help="in-process runs")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    yamls = {"stock": STOCK_YAML, "seamless": (REPO / "dagster.yaml").read_text()}
    best: dict[str, dict[str, float]] = {}
    for r in range(args.rounds):
        for name in list(yamls) if r % 2 == 0 else list(yamls)[::-1]:
            got = measure(yamls[name], args.events, args.runs)
            prev = best.get(name)
            best[name] = (
                got
                if prev is None
                else {k: (min(v, prev[k]) if k != "storage" else v) for k, v in got.items()}
            )
    cols = (
        ("mat", "materialization ms/event"),
        ("check", "check evaluation ms/event"),
        ("run", "in-run ms/run (1 asset + 4 checks)"),
        ("run_event", "in-run ms/stored event"),
    )
    print(f"best of {args.rounds} rounds; {args.events} runless events each, {args.runs} runs")
    for name, figures in best.items():
        print(f"  {name:>8} ({figures['storage']})")
    print(f"  {'':36} {'stock':>8} {'seamless':>9} {'ratio':>6}")
    for key, label in cols:
        s, o = best["stock"][key], best["seamless"][key]
        print(f"  {label:36} {s:8.2f} {o:9.2f} {o / s:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
