"""Eight strategy processes miss the same large window at the same moment:
exactly one Dagster run is created and every bar of the window is fetched once.
Repeated five times (a fresh node each round, the same eight processes)."""

from __future__ import annotations

import multiprocessing as mp

import dagster as dg
import pytest

from seamless_sdk.backfill.dagster import PARTITION_TAG, RequestTable
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import fetch_calls
from tests.integration.dagster.support import Y2024, SeamlessEnv, evaluate_sensor
from tests.integration.dagster.workers import read_rounds

PROCESSES = 8
ROUNDS = 5

pytestmark = pytest.mark.slow


def test_eight_processes_missing_one_window_make_one_run_and_one_fetch(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    config = seamless_env.config
    LocalStore(config.store).close()  # create the file before the race
    RequestTable(config.requests).close()
    rounds = [(f"demo:RACE{i}", *Y2024) for i in range(ROUNDS)]
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(PROCESSES + 1)
    out = ctx.Queue()
    workers = [
        ctx.Process(
            target=read_rounds,
            args=(str(config.store), str(config.requests), rounds, start, out),
        )
        for _ in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    try:
        for node, lo, hi in rounds:
            start.wait(timeout=120)
            results = [out.get(timeout=120) for _ in workers]
            errors = [r[1] for r in results if r[0] == "error"]
            assert not errors, errors[0]

            # Every read returned at once, partial, with the window detached.
            assert all(rows == 0 and detached == [[lo, hi]] for _, rows, detached, _ in results)
            # One process created the request; the seven others joined it.
            assert sorted(len(attached) for *_, attached in results) == [0] + [1] * 7

            tick = evaluate_sensor("seamless_request_sensor", defs, instance, config)
            (request,) = tick.run_requests
            job = defs.resolve_job_def(request.job_name or "")
            assert job.execute_in_process(
                instance=instance, partition_key=request.partition_key, tags=dict(request.tags)
            ).success
            assert (
                evaluate_sensor("seamless_request_sensor", defs, instance, config).run_requests
                == []
            )

            runs = instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: f"bars_1h|{node}|2024"}))
            assert len(runs) == 1
            calls = [(s, e) for n, _, s, e in fetch_calls(seamless_env.fetch_log) if n == node]
            assert len(calls) == len(set(calls))
            assert RangeSet(calls) == RangeSet([(lo, hi)])
            assert sum(e - s for s, e in calls) == hi - lo, "no bar fetched twice"
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
                w.join()
    assert all(w.exitcode == 0 for w in workers)
