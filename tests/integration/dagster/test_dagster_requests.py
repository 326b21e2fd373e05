"""The SDK's Dagster backfiller and the request sensor, against a real instance.

Requests from many callers for one window become one row, the sensor turns
rows into one run each (stable run keys), a window with a run in flight is
joined rather than asked for again, and a finished window can be asked for
again.
"""

from __future__ import annotations

import uuid

import dagster as dg
import pytest

from seamless_assets import load_config
from seamless_sdk.backfill.dagster import (
    DAGSTER_PARTITION_TAG,
    NODES_PARTITIONS,
    PARTITION_TAG,
    REQUEST_TAG,
    DagsterBackfiller,
    RequestTable,
)
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from tests.integration.dagster.support import Y2024, Y2025, SeamlessEnv, evaluate_sensor

H1 = parse_interval("1h")
POLICY = FillPolicy()


def evaluate(defs: dg.Definitions, instance: dg.DagsterInstance) -> dg.SensorResult:
    config = load_config()  # the test's SEAMLESS_CONFIG
    return evaluate_sensor("seamless_request_sensor", defs, instance, config)


def launch(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> None:
    """What the daemon does with a run request, done in process."""
    job = defs.resolve_job_def(request.job_name or "")
    result = job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags)
    )
    assert result.success


def test_many_requests_for_one_window_become_one_run(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    callers = [DagsterBackfiller(seamless_env.config.requests, instance=instance) for _ in range(3)]
    # Three callers miss part of 2024; the last also misses the start of 2025.
    gap_2024 = RangeSet([(Y2024[0] + 86_400, Y2024[0] + 90 * 86_400)])
    tickets = [b.request("demo:NEW", H1, gap_2024, policy=POLICY) for b in callers[:2]]
    tickets.append(
        callers[2].request(
            "demo:NEW", H1, gap_2024.union([(Y2025[0], Y2025[0] + 3600)]), policy=POLICY
        )
    )

    assert [t.requested for t in tickets[:2]] == [RangeSet([Y2024])] * 2
    assert tickets[0].attached == RangeSet()
    assert tickets[1].attached == RangeSet([Y2024])
    assert tickets[2].requested == RangeSet([Y2024, Y2025])
    assert tickets[2].attached == RangeSet([Y2024])
    assert "demo:NEW" in instance.get_dynamic_partitions(NODES_PARTITIONS)

    first = evaluate(defs, instance)
    again = evaluate(defs, instance)

    assert sorted(r.partition_key or "" for r in first.run_requests) == [
        "demo:NEW|2024",
        "demo:NEW|2025",
    ]
    assert len({r.run_key for r in first.run_requests}) == 2
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    for request in first.run_requests:
        assert request.job_name == "bars_1h_job"
        assert request.tags[PARTITION_TAG] == f"bars_1h|{request.partition_key}"
        assert request.tags[DAGSTER_PARTITION_TAG] == request.partition_key

    for request in first.run_requests:
        launch(defs, instance, request)
    after = evaluate(defs, instance)

    assert after.run_requests == []
    table = RequestTable(seamless_env.config.requests)
    assert [r.state for r in table.requests(("done",))] == ["done", "done"]
    table.close()
    for b in callers:
        b.close()


# QUEUED is in flight too, but a queued run cannot be forged without a code
# location origin; the e2e test joins a real queued run.
@pytest.mark.parametrize("status", ["NOT_STARTED", "STARTING", "STARTED", "CANCELING"])
def test_a_window_with_a_run_in_flight_is_joined(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions, status: str
) -> None:
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="bars_1h_job",
            run_id=run_id,
            status=dg.DagsterRunStatus(status),
            tags={PARTITION_TAG: "bars_1h|demo:A|2024", DAGSTER_PARTITION_TAG: "demo:A|2024"},
        )
    )
    backfiller = DagsterBackfiller(seamless_env.config.requests, instance=instance)

    ticket = backfiller.request(
        "demo:A", H1, RangeSet([(Y2024[0], Y2024[0] + 3600)]), policy=POLICY
    )

    assert ticket.attached == RangeSet([Y2024])
    assert ticket.run_ids == (run_id,)
    assert backfiller.table.requests() == []
    assert evaluate(defs, instance).run_requests == []
    backfiller.close()


def test_a_finished_window_can_be_requested_again(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions
) -> None:
    backfiller = DagsterBackfiller(seamless_env.config.requests, instance=instance)
    backfiller.request("demo:A", H1, RangeSet([Y2025]), policy=POLICY)
    (first,) = evaluate(defs, instance).run_requests
    launch(defs, instance, first)
    evaluate(defs, instance)  # marks the row done

    backfiller.request("demo:A", H1, RangeSet([Y2025]), policy=POLICY)
    (second,) = evaluate(defs, instance).run_requests

    assert second.run_key != first.run_key
    assert second.tags[REQUEST_TAG].endswith(":1")
    backfiller.close()
