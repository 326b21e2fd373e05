"""A read's FillPolicy governs the Dagster run it causes (issue 8, defect 1, Dagster side).

The code location here is configured the other way round from the reads
(three fetch attempts with backoff, ``partial_ok: false``), so each assertion
fails if the run falls back to the location's default instead of the policy
the read handed to the ``DagsterBackfiller``: the request table stores it,
the request sensor puts it on the run as ``seamless/fill.*`` tags, and the
asset fills with ``FillPolicy.from_tags(run.tags, default=...)``.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions
from seamless_sdk import SeamlessDataProvider, SLAPolicy, Strategy
from seamless_sdk.backfill.dagster import DagsterBackfiller, RequestTable, register_nodes
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ONE_BAD_TS, ScriptedFetcher, fetch_calls
from tests.integration.dagster.support import CONFIG, Y2024, SeamlessEnv, evaluate_sensor, make_env

H1 = parse_interval("1h")
READ = (Y2024[0], Y2024[0] + 30 * 86_400)  # January 2024 and a day: a large gap, detached
SLA = SLAPolicy(max_attempts=1, retry_backoff_ms=0)
# The location's own default: retries with backoff, no partial windows.
LOCATION_CONFIG = CONFIG.replace(
    "  fetch_attempts: 1\n",
    "  fetch_attempts: 3\n  fetch_backoff_ms: 100\n  fetch_jitter_ratio: 0\n  partial_ok: false\n",
)


@pytest.fixture
def seamless_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeamlessEnv:
    """This module's environment (the ``instance`` fixture opens its Dagster home)."""
    assert LOCATION_CONFIG != CONFIG
    return make_env(tmp_path, monkeypatch, LOCATION_CONFIG)


def read_then_run(
    env: SeamlessEnv, instance: dg.DagsterInstance, node: str
) -> tuple[dg.RunRequest, dg.ExecuteInProcessResult]:
    """A PARTIAL_FILL read of ``node`` with ``SLA`` and partial_ok=True, whose gap
    goes to a DagsterBackfiller; then one request-sensor tick and its run."""
    register_nodes(instance, [node])
    defs = build_definitions(env.config)
    backfiller = DagsterBackfiller(env.config.requests, instance=instance)
    with SeamlessDataProvider(
        LocalStore(env.config.store), ScriptedFetcher(), backfiller=backfiller
    ) as provider:
        result = provider.read(
            node, "1h", *READ, strategy=Strategy.PARTIAL_FILL, sla=SLA, partial_ok=True
        )
    assert result.meta.missing == RangeSet([READ])
    assert result.meta.backfill.detached == RangeSet([READ])
    assert fetch_calls(env.fetch_log) == [], "the read itself fetches nothing"

    (request,) = evaluate_sensor("seamless_request_sensor", defs, instance, env.config).run_requests
    job = defs.resolve_job_def(request.job_name or "")
    run = job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=dict(request.tags),
        raise_on_error=False,
    )
    return request, run


def test_the_run_carries_the_reads_policy_and_fetches_a_failing_source_once(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    env = seamless_env
    request, run = read_then_run(env, instance, "demo:FAIL")

    wanted = FillPolicy.from_read(SLA, partial_ok=True)
    table = RequestTable(env.config.requests)
    (row,) = table.requests()
    table.close()
    assert row.policy == wanted
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    assert FillPolicy.from_tags(stored.tags, default=FillPolicy(max_attempts=9)) == wanted
    assert {k: v for k, v in stored.tags.items() if k.startswith("seamless/fill.")} == (
        wanted.to_tags()
    )
    assert request.partition_key == "demo:FAIL|2024"
    assert not run.success
    # The location's default would have fetched 3 times; the read said once.
    assert fetch_calls(env.fetch_log) == [("demo:FAIL", "1h", Y2024[0], 1_706_745_600)]


def test_a_partial_ok_run_covers_every_bar_but_the_bad_one(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    env = seamless_env
    _, run = read_then_run(env, instance, "demo:ONEBAD")

    with LocalStore(env.config.store) as store:
        coverage = store.coverage("demo:ONEBAD", H1)
        stored = store.read("demo:ONEBAD", H1, *Y2024)
    # The location's default (partial_ok: false) would have written nothing.
    assert coverage == RangeSet([Y2024]).subtract(RangeSet([(ONE_BAD_TS, ONE_BAD_TS + 3600)]))
    assert len(stored) == 366 * 24 - 1
    assert "demo:ONEBAD|2024" in instance.get_materialized_partitions(dg.AssetKey("bars_1h"))
    # The rejected bar is reported: the blocking quality check fails the partition.
    verdicts = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    assert verdicts["quality_rules"] is False and verdicts["schema"] is True
