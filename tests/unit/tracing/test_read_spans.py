"""Spans of real reads (issue 12 item 4): a read that backfills, reads that breach
their SLA, and many reads interleaved by ``read_many`` on one thread.

Each read runs on a real LocalStore with a real fetcher; the spans are caught by
an in-memory exporter and checked for names, seed 003's attributes and the
parent/child structure across the fill's worker thread.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    LocalStore,
    SeamlessDataProvider,
    SeamlessSLAExceeded,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
    events,
    tracing,
)
from seamless_sdk.logs import install
from tests.unit.tracing.conftest import DAY, T0, by_name, parent_id, span_id, trace_hex

ISO_T0 = "2024-01-01T00:00:00Z"
ISO_T1 = "2024-01-02T00:00:00Z"


class SlowFetcher:
    """The synthetic bars, after ``delay_s``: a vendor slower than the read's budget."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.inner = SyntheticFetcher(seed=3)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        time.sleep(self.delay_s)
        return self.inner.fetch(node_id, interval, start, end)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """JSON log lines of the ``seamless`` logger during the test."""
    logger = logging.getLogger(events.LOGGER_NAME)
    level, before = logger.level, list(logger.handlers)
    stream = io.StringIO()
    install(stream=stream, json_lines=True)
    yield stream
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if handler not in before:
            logger.removeHandler(handler)


def _provider(tmp_path: Path, fetcher: object) -> SeamlessDataProvider:
    return SeamlessDataProvider(
        LocalStore(tmp_path / "bars.sqlite"), fetcher, registry=CollectorRegistry()
    )


def test_a_read_that_backfills(
    tmp_path: Path, spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    with _provider(tmp_path, SyntheticFetcher(seed=1)) as provider:
        result = provider.read("demo:A", "1h", T0, T0 + DAY, strategy=Strategy.SEAMLESS)
    found = by_name(spans)
    (read,) = found[tracing.HISTORY_READ]
    assert read.parent is None
    assert dict(read.attributes or {}) == {
        "request_id": result.meta.request_id,
        "node_id": "demo:A",
        "interval": "1h",
        "start": ISO_T0,
        "end": ISO_T1,
        "strategy": "seamless",
        "strict": False,
        "source": "backfill",
        "missing_count": 0,
        "wait_ms": pytest.approx(result.meta.sla_report.elapsed_ms["backfill"], abs=1e-3),
        "timeout": False,
    }
    assert result.meta.trace_id == trace_hex(read)
    assert result.meta.to_dict()["trace_id"] == trace_hex(read)

    (coverage,) = found[tracing.COVERAGE_COMPUTE]
    assert parent_id(coverage) == span_id(read)
    assert coverage.attributes is not None and coverage.attributes["missing_count"] == 24

    (claim,) = found[tracing.BACKFILL_CLAIM]
    assert parent_id(claim) == span_id(read)
    assert {k: claim.attributes[k] for k in ("detached", "joined", "missing_count")} == {  # type: ignore[index]
        "detached": False,
        "joined": False,
        "missing_count": 24,
    }

    # The fill ran on a worker thread, and is still the read's child.
    (run,) = found[tracing.BACKFILL_RUN]
    assert parent_id(run) == span_id(read)
    assert run.attributes is not None
    assert run.attributes["request_id"] == result.meta.request_id
    assert (run.attributes["start"], run.attributes["rows"]) == (ISO_T0, 24)
    (lock,) = found[tracing.LOCK_ACQUIRE]
    (fetch,) = found[tracing.DATASOURCE_READ]
    assert parent_id(lock) == parent_id(fetch) == span_id(run)
    assert lock.attributes is not None and lock.attributes["contended"] is False
    assert lock.attributes["wait_ms"] >= 0  # type: ignore[operator]
    assert fetch.attributes is not None
    assert (fetch.attributes["source"], fetch.attributes["attempt"]) == ("backfill", 1)
    assert {trace_hex(s) for s in spans.get_finished_spans()} == {result.meta.trace_id}

    # Every log line of the read and of its fill names the read's trace.
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    assert {line["event"] for line in lines} >= {
        events.BACKFILL_ATTEMPT,
        events.BACKFILL,
        events.CONFORMANCE,
        events.READ,
    }
    assert {line["trace_id"] for line in lines} == {result.meta.trace_id}
    assert all(line["source"] for line in lines)
    # ... and the fill's events are on the fill's span.
    assert [e.name for e in run.events] == [
        events.BACKFILL_ATTEMPT,
        events.CONFORMANCE,
        events.BACKFILL,
    ]


def test_a_seamless_read_that_breaches_its_backfill_budget(
    tmp_path: Path, spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    sla = SLAPolicy(max_wait_backfill_ms=50, total_deadline_ms=5_000)
    with _provider(tmp_path, SlowFetcher(0.5)) as provider:
        result = provider.read("demo:S", "1h", T0, T0 + DAY, strategy=Strategy.SEAMLESS, sla=sla)
        assert result.meta.sla_report.violation == "backfill"
    # close() waited for the fill, which went on after the read answered.
    found = by_name(spans)
    (read,) = found[tracing.HISTORY_READ]
    attributes = dict(read.attributes or {})
    assert attributes["sla_violation"] == "backfill" and attributes["timeout"] is True
    assert attributes["missing_count"] == 24 and attributes["source"] == "none"
    assert 40 <= attributes["wait_ms"] < 500  # type: ignore[operator]
    assert read.status.status_code is StatusCode.UNSET  # a partial answer, not a failure
    (breach,) = [e for e in read.events if e.name == events.SLA]
    assert breach.attributes is not None
    assert (breach.attributes["phase"], breach.attributes["error_kind"]) == (
        "backfill",
        "sla_exceeded",
    )
    (run,) = found[tracing.BACKFILL_RUN]
    assert parent_id(run) == span_id(read)
    assert run.end_time is not None and read.end_time is not None
    assert run.end_time > read.end_time  # the fill outlived the read, in the same trace
    (line,) = [json.loads(x) for x in log_lines.getvalue().splitlines() if '"seamless.sla"' in x]
    assert line["trace_id"] == result.meta.trace_id == trace_hex(read)
    assert (line["error_kind"], line["source"], line["strategy"]) == (
        "sla_exceeded",
        "backfill",
        "seamless",
    )
    assert line["wait_ms"] >= 40


def test_an_auto_backfill_read_that_breaches_fails_its_span(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    sla = SLAPolicy(max_wait_backfill_ms=50)
    with (
        _provider(tmp_path, SlowFetcher(0.3)) as provider,
        pytest.raises(SeamlessSLAExceeded),
    ):
        provider.read("demo:F", "1h", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL, sla=sla)
    found = by_name(spans)
    (read,) = found[tracing.HISTORY_READ]
    assert read.status.status_code is StatusCode.ERROR
    assert read.attributes is not None
    assert read.attributes["error_kind"] == "SeamlessSLAExceeded"
    assert read.attributes["strategy"] == "auto_backfill"
    assert [e.name for e in read.events] == [events.SLA, "exception"]
    (run,) = found[tracing.BACKFILL_RUN]
    assert parent_id(run) == span_id(read)


def test_read_many_keeps_each_reads_children_apart(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    """``read_many`` steps many reads on one thread: a child span must name its own
    read as its parent, never the read that happened to step before it."""
    nodes = ["uni:A", "uni:B", "uni:C"]
    with _provider(tmp_path, SyntheticFetcher(seed=2)) as provider:
        results = provider.read_many(nodes, "1h", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    found = by_name(spans)
    reads = {s.attributes["node_id"]: s for s in found[tracing.HISTORY_READ]}  # type: ignore[index]
    assert set(reads) == set(nodes)
    for node, read in reads.items():
        assert read.parent is None
        assert results[node].meta.trace_id == trace_hex(read)
    assert len({trace_hex(s) for s in reads.values()}) == 3
    for name in (tracing.COVERAGE_COMPUTE, tracing.BACKFILL_CLAIM, tracing.BACKFILL_RUN):
        assert len(found[name]) == 3
        for child in found[name]:
            assert child.attributes is not None
            assert parent_id(child) == span_id(reads[child.attributes["node_id"]])  # type: ignore[index]


def test_a_read_of_stored_bars(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with _provider(tmp_path, SyntheticFetcher(seed=1)) as provider:
        provider.ensure_available("demo:R", "1h", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
        spans.clear()
        result = provider.read(
            "demo:R", "1h", T0, T0 + DAY, strategy=Strategy.FAIL_FAST, source_priority=["storage"]
        )
    found = by_name(spans)
    assert sorted(found) == [tracing.COVERAGE_COMPUTE, tracing.HISTORY_READ]
    (read,) = found[tracing.HISTORY_READ]
    assert read.attributes is not None
    assert (read.attributes["source"], read.attributes["missing_count"]) == ("storage", 0)
    assert result.meta.trace_id == trace_hex(read)


def test_a_detached_gap_fills_in_the_reads_trace(
    tmp_path: Path, spans: InMemorySpanExporter, log_lines: io.StringIO
) -> None:
    """A gap over ``max_sync_gap_bars`` is downgraded and detached: the background
    fill on the worker thread is still a child of the read that left it."""
    sla = SLAPolicy(max_sync_gap_bars=10)
    with _provider(tmp_path, SyntheticFetcher(seed=5)) as provider:
        result = provider.read("demo:D", "1h", T0, T0 + DAY, strategy=Strategy.SEAMLESS, sla=sla)
        assert result.meta.missing and result.meta.backfill.detached
        assert provider.backfiller.wait_idle(30)
    found = by_name(spans)
    (read,) = found[tracing.HISTORY_READ]
    (claim,) = found[tracing.BACKFILL_CLAIM]
    assert claim.attributes is not None
    assert (claim.attributes["detached"], claim.attributes["backfiller"]) == (
        True,
        "InProcessBackfiller",
    )
    (run,) = found[tracing.BACKFILL_RUN]
    assert parent_id(claim) == parent_id(run) == span_id(read)
    assert run.attributes is not None and run.attributes["urgent"] is False
    assert events.SLA_DOWNGRADE in [e.name for e in read.events]
    (line,) = [
        json.loads(x) for x in log_lines.getvalue().splitlines() if events.SLA_DOWNGRADE in x
    ]
    assert line["source"] == "backfill" and line["reason"] == "sync_gap"
    assert line["strategy"] == "seamless"
    assert line["trace_id"] == result.meta.trace_id == trace_hex(read)
    # The background fill's own lines name the read that left the gap.
    fills = [json.loads(x) for x in log_lines.getvalue().splitlines() if "seamless.backfill" in x]
    assert fills and {f["request_id"] for f in fills} == {result.meta.request_id}
