"""A read's context in its FillPolicy, and as Dagster run tags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher, tracing
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.sla import SLAPolicy
from tests.unit.tracing.conftest import DAY, T0


def test_the_policy_carries_the_context_without_changing_its_identity(
    spans: InMemorySpanExporter,
) -> None:
    read = tracing.start(
        tracing.HISTORY_READ, baggage={tracing.REQUEST_ID_BAGGAGE: "r1"}, node_id="demo:A"
    )
    assert isinstance(read, tracing.TraceSpan)
    traced = FillPolicy.from_read(SLAPolicy(), True, trace_context=read.context)
    plain = FillPolicy.from_read(SLAPolicy(), True)
    # Two reads with different traces still share one fill (and one request row).
    assert traced == plain and hash(traced) == hash(plain)
    assert "trace_context" not in repr(traced)
    tags = traced.to_tags()
    context = trace.get_current_span(read.context).get_span_context()
    assert tags[tracing.TRACEPARENT_TAG].startswith(
        f"00-{context.trace_id:032x}-{context.span_id:016x}-"
    )
    assert {k: v for k, v in tags.items() if k.startswith("seamless/fill.")} == plain.to_tags()

    back = FillPolicy.from_tags(tags, default=FillPolicy())
    assert back == traced
    remote = trace.get_current_span(back.trace_context).get_span_context()
    assert (remote.trace_id, remote.span_id, remote.is_remote) == (
        context.trace_id,
        context.span_id,
        True,
    )
    assert tags[tracing.BAGGAGE_TAG] == "seamless.request_id=r1"
    assert baggage.get_baggage(tracing.REQUEST_ID_BAGGAGE, back.trace_context) == "r1"
    read.end()


def test_bad_or_missing_trace_tags_are_no_context() -> None:
    assert FillPolicy.from_tags({}, default=FillPolicy()).trace_context is None
    bad = {tracing.TRACEPARENT_TAG: "not-a-traceparent"}
    assert FillPolicy.from_tags(bad, default=FillPolicy()).trace_context is None
    assert tracing.to_tags(None) == {}


class BaggageFetcher:
    """Synthetic bars; remembers the read's request id the fill's context carries."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self.inner = SyntheticFetcher(seed=1)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        self.seen.append(baggage.get_baggage(tracing.REQUEST_ID_BAGGAGE))
        return self.inner.fetch(node_id, interval, start, end)


def test_the_fill_thread_sees_the_reads_request_id_as_baggage(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    fetcher = BaggageFetcher()
    with SeamlessDataProvider(
        LocalStore(tmp_path / "b.sqlite"), fetcher, registry=CollectorRegistry()
    ) as provider:
        result = provider.read("demo:B", "1h", T0, T0 + DAY)
    assert fetcher.seen == [result.meta.request_id]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_request_table_keeps_the_context_for_the_runs_tags(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, spans: InMemorySpanExporter
) -> None:
    """Both request-table back-ends store the policy's tags, so the row's run carries
    the read's trace (the request sensor and ``submit="graphql"`` build the same tags)."""
    from seamless_sdk.backfill.dagster import run_tags_for_request
    from seamless_sdk.backfill.dagster.requests_pg import open_request_table

    dsn = request.getfixturevalue("postgres_dsn") if backend == "postgres" else None
    table = open_request_table(tmp_path / "r.sqlite", dsn=dsn)
    read = tracing.start(tracing.HISTORY_READ, baggage={tracing.REQUEST_ID_BAGGAGE: "r9"})
    policy = FillPolicy.from_read(SLAPolicy(), False, trace_context=read.context)
    try:
        (sub,) = table.submit("demo:T", "1h", [(T0, T0 + 366 * DAY)], policy=policy)
        (row,) = table.requests()
    finally:
        table.close()
        read.end()
    assert sub.created and row.policy == policy
    tags = run_tags_for_request(row)
    assert {k: tags[k] for k in (tracing.TRACEPARENT_TAG, tracing.BAGGAGE_TAG)} == {
        k: policy.to_tags()[k] for k in (tracing.TRACEPARENT_TAG, tracing.BAGGAGE_TAG)
    }
    assert tags[tracing.BAGGAGE_TAG] == "seamless.request_id=r9"
