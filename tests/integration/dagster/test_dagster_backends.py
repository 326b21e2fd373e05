"""The code location on the production back-ends that ``seamless.yaml`` selects.

``store: {kind: postgres, dsn: ...}`` and ``coordinator: {kind: postgres,
dsn: ...}`` on the suite's real PostgreSQL (one database for both, as a
deployment would): a run fills the PostgresStore claiming each chunk from the
coordinator, and strategy processes that share no file, racing to ask for
the same window through ``DagsterBackfiller(coordinator=...)``, leave one
request row in the coordinator's database, which the request sensor turns
into one run. (Both tests also run on both Dagster instances, see conftest.)
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path
from queue import Queue

import dagster as dg
import pytest

from seamless_assets import build_definitions
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import (
    PARTITION_TAG,
    DagsterBackfiller,
    PostgresRequestTable,
    register_nodes,
)
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.config_backends import PostgresStoreConfig
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.postgres import PostgresStore
from tests.integration.dagster.fetchers import fetch_calls
from tests.integration.dagster.support import CONFIG, Y2024, SeamlessEnv, evaluate_sensor, make_env

pytestmark = pytest.mark.slow
H1 = parse_interval("1h")
PROCESSES = 2


def _config(dsn: str) -> str:
    backends = (
        f'store: {{kind: postgres, dsn: "{dsn}"}}\ncoordinator: {{kind: postgres, dsn: "{dsn}"}}\n'
    )
    return CONFIG.replace("store: store/bars.sqlite\n", backends)


@pytest.fixture
def backends_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_dsn: str) -> SeamlessEnv:
    return make_env(tmp_path, monkeypatch, _config(postgres_dsn))


def test_a_run_fills_the_postgres_store_claiming_windows_from_the_coordinator(
    backends_env: SeamlessEnv, postgres_dsn: str
) -> None:
    config = backends_env.config
    assert config.store_config == PostgresStoreConfig(kind="postgres", dsn=postgres_dsn)
    resource = SeamlessResource.from_config(config)
    assert resource.store_config() == config.store_config
    with resource.open_requests() as table:
        assert isinstance(table, PostgresRequestTable)
    assert not config.store.exists(), "no LocalStore file is made"

    defs = build_definitions(config)
    job = defs.resolve_job_def("bars_1h_job")
    with dg.DagsterInstance.get() as instance:
        register_nodes(instance, ["demo:A"])
        assert job.execute_in_process(instance=instance, partition_key="demo:A|2024").success
        with PostgresStore(postgres_dsn) as store:
            assert store.coverage("demo:A", H1) == RangeSet([Y2024])
            assert len(store.read("demo:A", H1, *Y2024)) == (Y2024[1] - Y2024[0]) // 3600
        calls = [(s, e) for n, _, s, e in fetch_calls(backends_env.fetch_log) if n == "demo:A"]
        assert RangeSet(calls) == RangeSet([Y2024]) and len(calls) == len(set(calls))

        import psycopg

        with psycopg.connect(postgres_dsn) as conn:
            states = conn.execute(
                "SELECT state, count(*) FROM backfill_jobs WHERE node_id = 'demo:A' GROUP BY state"
            ).fetchall()
        assert dict(states).keys() == {"SUCCEEDED"}, states

        # A second run finds the window covered: nothing is fetched again.
        assert job.execute_in_process(instance=instance, partition_key="demo:A|2024").success
        assert len(fetch_calls(backends_env.fetch_log)) == len(calls)
        instance.dispose()


def _ask(dsn: str, barrier: Barrier, out: Queue) -> None:  # type: ignore[type-arg]
    """A strategy host: its own coordinator connection, the shared Dagster instance."""
    from seamless_sdk.coordination.postgres import PostgresCoordinator

    with dg.DagsterInstance.get() as instance, PostgresCoordinator(dsn) as coordinator:
        backfiller = DagsterBackfiller(coordinator=coordinator, instance=instance)
        barrier.wait(timeout=120)
        ticket = backfiller.request("demo:B", H1, RangeSet([Y2024]), policy=FillPolicy())
        out.put(ticket.attached.total())
        backfiller.close()


def test_processes_racing_for_a_window_make_one_request_and_one_run(
    backends_env: SeamlessEnv, postgres_dsn: str
) -> None:
    config = backends_env.config
    defs = build_definitions(config)
    with dg.DagsterInstance.get() as instance:
        PostgresRequestTable(postgres_dsn).close()  # the table exists before the race
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [
            ctx.Process(target=_ask, args=(postgres_dsn, barrier, out)) for _ in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        try:
            attached = sorted(out.get(timeout=180) for _ in procs)
        finally:
            for p in procs:
                p.join(timeout=60)
                if p.is_alive():
                    p.kill()
        assert attached == [0] + [Y2024[1] - Y2024[0]] * (PROCESSES - 1)

        tick = evaluate_sensor("seamless_request_sensor", defs, instance, config)
        (request,) = tick.run_requests
        assert request.partition_key == "demo:B|2024"
        job = defs.resolve_job_def(request.job_name or "")
        assert job.execute_in_process(
            instance=instance, partition_key=request.partition_key, tags=dict(request.tags)
        ).success
        assert evaluate_sensor("seamless_request_sensor", defs, instance, config).run_requests == []
        runs = instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: "bars_1h|demo:B|2024"}))
        assert len(runs) == 1
        with PostgresStore(postgres_dsn) as store:
            assert store.coverage("demo:B", H1) == RangeSet([Y2024])
        instance.dispose()
