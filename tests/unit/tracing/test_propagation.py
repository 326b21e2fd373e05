"""A read's context in its FillPolicy, and as Dagster run tags."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seamless_sdk import tracing
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.sla import SLAPolicy


def test_the_policy_carries_the_context_without_changing_its_identity(
    spans: InMemorySpanExporter,
) -> None:
    read = tracing.start(tracing.HISTORY_READ, node_id="demo:A")
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
    read.end()


def test_bad_or_missing_trace_tags_are_no_context() -> None:
    assert FillPolicy.from_tags({}, default=FillPolicy()).trace_context is None
    bad = {tracing.TRACEPARENT_TAG: "not-a-traceparent"}
    assert FillPolicy.from_tags(bad, default=FillPolicy()).trace_context is None
    assert tracing.to_tags(None) == {}
