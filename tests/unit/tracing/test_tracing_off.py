"""Tracing off costs nothing and changes nothing; the global provider is the one used.

Three set-ups a user can be in: ``opentelemetry`` installed but no tracer
provider configured (the API's stand-in), ``opentelemetry`` not installed at all
(its import blocked in a fresh interpreter), and a provider set globally by the
application (in a fresh interpreter: the global provider can be set only once).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy, SyntheticFetcher, tracing
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.sla import SLAPolicy
from tests.unit.tracing.conftest import DAY, T0

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_no_provider_means_no_spans_and_no_trace_ids(tmp_path: Path) -> None:
    assert tracing.AVAILABLE and not tracing.enabled()
    with SeamlessDataProvider(
        LocalStore(tmp_path / "b.sqlite"), SyntheticFetcher(seed=1), registry=CollectorRegistry()
    ) as provider:
        result = provider.read("demo:A", "1h", T0, T0 + DAY, strategy=Strategy.SEAMLESS)
    assert len(result.df) == 24 and not result.meta.missing
    assert result.meta.trace_id is None and result.meta.to_dict()["trace_id"] is None
    assert tracing.current_context() is None and tracing.current_trace_id() is None
    with tracing.span(tracing.LOCK_ACQUIRE, node_id="demo:A") as span:
        assert span is tracing.NO_SPAN and not span.recording
    policy = FillPolicy.from_read(SLAPolicy(), False, trace_context=tracing.current_context())
    assert policy.trace_context is None
    assert not any(tag.startswith("seamless/trace") for tag in policy.to_tags())


def test_a_provider_without_processors_records_nothing_visible(tmp_path: Path) -> None:
    """A real SDK provider with no exporter: spans are made and dropped, reads work."""
    provider = TracerProvider()
    tracing.set_tracer_provider(provider)
    try:
        with SeamlessDataProvider(
            LocalStore(tmp_path / "b.sqlite"),
            SyntheticFetcher(seed=1),
            registry=CollectorRegistry(),
        ) as p:
            result = p.read("demo:A", "1h", T0, T0 + DAY)
        assert result.meta.trace_id is not None and len(result.meta.trace_id) == 32
    finally:
        tracing.set_tracer_provider(None)
        provider.shutdown()
    assert not tracing.enabled()


def test_without_opentelemetry_installed(tmp_path: Path) -> None:
    out = _run(
        f"""
        import json, sys
        sys.modules["opentelemetry"] = None  # as if the otel extra were not installed
        from prometheus_client import CollectorRegistry
        from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher, tracing
        from seamless_sdk.backfill.policy import FillPolicy
        with SeamlessDataProvider(LocalStore({str(tmp_path / "b.sqlite")!r}),
                                  SyntheticFetcher(seed=1), registry=CollectorRegistry()) as p:
            r = p.read("demo:A", "1h", {T0}, {T0 + DAY})
        tags = FillPolicy.from_tags({{"seamless/traceparent": "00-" + "1" * 32 + "-" + "2" * 16
                                      + "-01"}}, default=FillPolicy())
        print(json.dumps({{"available": tracing.AVAILABLE, "enabled": tracing.enabled(),
                          "rows": len(r.df), "trace_id": r.meta.trace_id,
                          "context": tags.trace_context,
                          "otel": [m for m in sys.modules if m.startswith("opentelemetry.")]}}))
        """
    )
    assert out == {
        "available": False,
        "enabled": False,
        "rows": 24,
        "trace_id": None,
        "context": None,
        "otel": [],
    }


def test_the_global_tracer_provider_is_used(tmp_path: Path) -> None:
    out = _run(
        f"""
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from prometheus_client import CollectorRegistry
        from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher, tracing
        before = tracing.enabled()
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # what an application does, once
        tracer = trace.get_tracer("strategy")
        with SeamlessDataProvider(LocalStore({str(tmp_path / "b.sqlite")!r}),
                                  SyntheticFetcher(seed=1), registry=CollectorRegistry()) as p:
            with tracer.start_as_current_span("strategy.tick") as tick:
                r = p.read("demo:A", "1h", {T0}, {T0 + DAY})
        spans = {{s.name: s for s in exporter.get_finished_spans()}}
        read = spans["history.read"]
        print(json.dumps({{"before": before, "names": sorted(spans),
                          "parent_is_tick": read.parent.span_id == tick.get_span_context().span_id,
                          "same_trace": r.meta.trace_id == f"{{read.context.trace_id:032x}}"}}))
        """
    )
    assert out == {
        "before": False,
        "names": sorted(
            [
                "strategy.tick",
                tracing.HISTORY_READ,
                tracing.COVERAGE_COMPUTE,
                tracing.BACKFILL_CLAIM,
                tracing.BACKFILL_RUN,
                tracing.LOCK_ACQUIRE,
                tracing.DATASOURCE_READ,
            ]
        ),
        "parent_is_tick": True,
        "same_trace": True,
    }
