"""An in-memory span exporter on a tracer provider of Seamless's own, per test.

OpenTelemetry lets the global provider be set once per process, so each test
hands Seamless its own provider (``seamless_sdk.tracing.set_tracer_provider``)
and takes it back afterwards; the global provider is exercised in a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from seamless_sdk import tracing

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span Seamless ends during the test, exported as it ends."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_tracer_provider(provider)
    yield exporter
    tracing.set_tracer_provider(None)
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    """The finished spans grouped by name, in the order they ended."""
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent (None for a root span)."""
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    """``span``'s own span id."""
    assert span.context is not None
    return span.context.span_id


def trace_hex(span: ReadableSpan) -> str:
    """``span``'s trace id as 32 hex digits (how ``HistoryMeta.trace_id`` names it)."""
    assert span.context is not None
    return f"{span.context.trace_id:032x}"
