"""One trace spans a read and the Dagster run it causes (issue 12 item 4).

A traced PARTIAL_FILL read hands its gap to a real ``DagsterBackfiller`` on a
temporary Dagster instance; the request table keeps the read's context with
its fill policy, the request sensor's run carries it as W3C run tags
(``seamless/traceparent``), and the run's ``backfill.run`` span (with its
``datasource.read`` and ``lock.acquire`` children) is a child of the read's
``history.read`` span, in the read's trace.
"""

from __future__ import annotations

import dagster as dg
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seamless_assets import build_definitions
from seamless_sdk import SeamlessDataProvider, SLAPolicy, Strategy, tracing
from seamless_sdk.backfill.dagster import DagsterBackfiller, register_nodes
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ScriptedFetcher
from tests.integration.dagster.support import Y2024, SeamlessEnv, evaluate_sensor
from tests.unit.tracing.conftest import by_name, parent_id, span_id, spans, trace_hex

__all__ = ["spans"]  # the fixture, shared with the unit tests

READ = (Y2024[0], Y2024[0] + 30 * 86_400)  # a large gap: detached to Dagster


def test_the_run_of_a_traced_read_joins_its_trace(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, spans: InMemorySpanExporter
) -> None:
    env, node = seamless_env, "demo:TRACED"
    register_nodes(instance, [node])
    defs = build_definitions(env.config)
    backfiller = DagsterBackfiller(env.config.requests, instance=instance)
    with SeamlessDataProvider(
        LocalStore(env.config.store), ScriptedFetcher(), backfiller=backfiller
    ) as provider:
        result = provider.read(
            node, "1h", *READ, strategy=Strategy.PARTIAL_FILL, sla=SLAPolicy(max_attempts=1)
        )
    assert result.meta.backfill.detached == RangeSet([READ])
    (read,) = by_name(spans)[tracing.HISTORY_READ]
    (claim,) = by_name(spans)[tracing.BACKFILL_CLAIM]
    assert parent_id(claim) == span_id(read)
    assert claim.attributes is not None
    assert (claim.attributes["detached"], claim.attributes["backfiller"]) == (
        True,
        "DagsterBackfiller",
    )

    (request,) = evaluate_sensor("seamless_request_sensor", defs, instance, env.config).run_requests
    traceparent = request.tags[tracing.TRACEPARENT_TAG]
    # version, trace id, parent span id, flags (sampled; the SDK may add "random")
    assert traceparent.startswith(f"00-{result.meta.trace_id}-{span_id(read):016x}-")
    assert request.tags[tracing.BAGGAGE_TAG] == f"seamless.request_id={result.meta.request_id}"
    spans.clear()
    job = defs.resolve_job_def(request.job_name or "")
    run = job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags)
    )
    assert run.success
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None and stored.tags[tracing.TRACEPARENT_TAG] == traceparent

    found = by_name(spans)
    (fill,) = found[tracing.BACKFILL_RUN]
    assert trace_hex(fill) == result.meta.trace_id
    assert parent_id(fill) == span_id(read)
    assert fill.parent is not None and fill.parent.is_remote  # it came through the run tags
    assert fill.attributes is not None
    assert (fill.attributes["node_id"], fill.attributes["source"]) == (node, "dagster")
    assert fill.attributes["request_id"] == request.partition_key
    # One fetch and one chunk lock per store chunk of the year's partition.
    fetches, locks = found[tracing.DATASOURCE_READ], found[tracing.LOCK_ACQUIRE]
    assert len(fetches) == len(locks) > 1
    assert all(parent_id(s) == span_id(fill) for s in fetches + locks)
    assert {trace_hex(s) for s in spans.get_finished_spans()} == {result.meta.trace_id}


def test_an_untraced_read_adds_no_trace_tags(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance
) -> None:
    env, node = seamless_env, "demo:PLAIN"
    register_nodes(instance, [node])
    defs = build_definitions(env.config)
    backfiller = DagsterBackfiller(env.config.requests, instance=instance)
    with SeamlessDataProvider(
        LocalStore(env.config.store), ScriptedFetcher(), backfiller=backfiller
    ) as provider:
        result = provider.read(node, "1h", *READ, strategy=Strategy.PARTIAL_FILL)
    assert result.meta.trace_id is None
    (request,) = evaluate_sensor("seamless_request_sensor", defs, instance, env.config).run_requests
    assert not any(tag.startswith("seamless/trace") for tag in request.tags)
