"""``lock.acquire`` and the coordinator's ``backfill.claim``: a free lock, a contended
one that times out, on the local ``flock`` and on PostgreSQL advisory locks, and a
read whose fill claims its chunk from a real ``PostgresCoordinator``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy, SyntheticFetcher, tracing
from seamless_sdk.errors import StoreError
from tests.unit.tracing.conftest import DAY, T0, by_name, parent_id, span_id


def _contend(store: object, spans: InMemorySpanExporter) -> None:
    """Take a chunk lock freely, then fail to take it while another thread holds it."""
    with store.window_lock("demo:L", "1h", T0):  # type: ignore[attr-defined]
        pass
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.window_lock("demo:L", "1h", T0):  # type: ignore[attr-defined]
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(StoreError, match="not acquired"):
            store.window_lock("demo:L", "1h", T0, timeout=0.05).__enter__()  # type: ignore[attr-defined]
    finally:
        release.set()
        thread.join()


def _check(spans: InMemorySpanExporter, lock: str) -> None:
    free, holder, refused = by_name(spans)[tracing.LOCK_ACQUIRE]
    for span in (free, holder, refused):
        assert span.attributes is not None and span.attributes["lock"] == lock
    assert free.attributes is not None and "timeout" not in free.attributes
    assert free.status.status_code is StatusCode.UNSET
    assert refused.attributes is not None
    assert refused.attributes["timeout"] is True and refused.attributes["timeout_s"] == 0.05
    assert refused.attributes["wait_ms"] >= 40  # type: ignore[operator]
    assert refused.attributes["error_kind"] == "StoreError"
    assert refused.status.status_code is StatusCode.ERROR


def test_flock(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    with LocalStore(tmp_path / "b.sqlite") as store:
        _contend(store, spans)
    _check(spans, "chunk")
    free, _, refused = by_name(spans)[tracing.LOCK_ACQUIRE]
    assert free.attributes is not None and refused.attributes is not None
    assert (free.attributes["contended"], free.attributes["node_id"]) == (False, "demo:L")
    assert free.attributes["start"] == "2024-01-01T00:00:00Z"


def test_postgres_advisory_lock(postgres_dsn: str, spans: InMemorySpanExporter) -> None:
    from seamless_sdk.stores.postgres import PostgresStore

    with PostgresStore(postgres_dsn) as store:
        _contend(store, spans)
    _check(spans, "advisory")
    (free, *_) = by_name(spans)[tracing.LOCK_ACQUIRE]
    assert free.attributes is not None and "demo:L" in str(free.attributes["what"])


def test_a_fill_claims_its_chunk_from_the_coordinator(
    tmp_path: Path, postgres_dsn: str, spans: InMemorySpanExporter
) -> None:
    from seamless_sdk.coordination.postgres import PostgresCoordinator

    with SeamlessDataProvider(
        LocalStore(tmp_path / "b.sqlite"),
        SyntheticFetcher(seed=1),
        registry=CollectorRegistry(),
        coordinator=PostgresCoordinator(postgres_dsn),
    ) as provider:
        provider.read("demo:C", "1h", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    found = by_name(spans)
    (run,) = found[tracing.BACKFILL_RUN]
    (read_claim, chunk_claim) = sorted(
        found[tracing.BACKFILL_CLAIM], key=lambda s: s.start_time or 0
    )
    assert parent_id(read_claim) == parent_id(run)  # both children of history.read
    assert parent_id(chunk_claim) == span_id(run)
    assert chunk_claim.attributes is not None
    assert chunk_claim.attributes["claim"] == "claimed"
    assert chunk_claim.attributes["coordinator"] == "PostgresCoordinator"
    assert chunk_claim.attributes["missing_count"] == 24
    (fetch,) = found[tracing.DATASOURCE_READ]
    assert parent_id(fetch) == span_id(run)
