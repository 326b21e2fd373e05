"""Reads and backfills show up in Prometheus metrics and structured log events."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import SLAPolicy, Strategy, SyntheticFetcher

from .conftest import DAY, HOUR, T0, MakeProvider


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    got = registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_metrics_follow_reads_and_backfills(
    make_provider: MakeProvider, registry: CollectorRegistry
) -> None:
    p = make_provider(SyntheticFetcher(seed=1), strategy=Strategy.AUTO_BACKFILL)
    p.read("demo:OBS", "1m", T0, T0 + 2 * DAY)
    p.read("demo:OBS", "1m", T0, T0 + 2 * DAY)
    assert value(registry, "seamless_backfill_fetch_total", node_id="demo:OBS", interval="1m") == 2
    assert value(registry, "backfill_last_timestamp", node_id="demo:OBS", interval="1m") == (
        T0 + 2 * DAY
    )
    assert value(registry, "seamless_cache_hits_total") == 1
    assert value(registry, "seamless_cache_misses_total") == 1
    assert value(registry, "backfill_jobs_in_progress", node_id="demo:OBS", interval="1m") == 0
    assert (
        value(
            registry, "seamless_read_latency_seconds_count", strategy="auto_backfill", interval="1m"
        )
        == 2
    )
    assert (
        value(registry, "seamless_sla_deadline_seconds_count", node_id="demo:OBS", phase="backfill")
        == 1
    )
    assert (
        value(registry, "seamless_conformance_flag_total", node_id="demo:OBS", flag="BACKFILLED")
        == 2 * 1440
    )


def test_completion_ratio_is_the_share_of_the_fill_done(
    make_provider: MakeProvider, registry: CollectorRegistry
) -> None:
    # It was each window's own share: 1.0 once any window of a fill committed.
    labels = {"node_id": "demo:CR", "interval": "1m"}
    seen: list[float | None] = []

    class FailsDayTwo(SyntheticFetcher):
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            seen.append(registry.get_sample_value("backfill_completion_ratio", labels))
            if start >= T0 + DAY and end <= T0 + 2 * DAY:
                raise ConnectionError("upstream 503")
            return super().fetch(node_id, interval, start, end)

    p = make_provider(FailsDayTwo(seed=1), workers=1, sla=SLAPolicy(max_attempts=1))
    p.read("demo:CR", "1m", T0, T0 + 4 * DAY, strategy=Strategy.PARTIAL_FILL)
    assert p.backfiller.wait_idle(30)
    assert seen == [None, 0.25, 0.25, 0.5]  # four daily windows in turn; the second fails
    assert registry.get_sample_value("backfill_completion_ratio", labels) == 0.75


def test_structured_events(make_provider: MakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    p = make_provider(SyntheticFetcher(seed=1), sla=SLAPolicy(max_sync_gap_bars=10))
    with caplog.at_level(logging.INFO, logger="seamless"):
        res = p.read("demo:EV", "1m", T0, T0 + HOUR)
    events = [getattr(r, "seamless", {}) for r in caplog.records]
    names = [e.get("event") for e in events]
    assert "seamless.sla.downgrade" in names and "seamless.read" in names
    for event in events:
        assert {"node_id", "interval", "start", "end", "request_id"} <= set(event)
    read = next(e for e in events if e["event"] == "seamless.read")
    assert read["request_id"] == res.meta.request_id and read["node_id"] == "demo:EV"


def test_on_fill_hook_sees_every_committed_window(make_provider: MakeProvider) -> None:
    seen = []
    p = make_provider(
        SyntheticFetcher(seed=1), strategy=Strategy.AUTO_BACKFILL, on_fill=seen.append
    )
    p.read("demo:HOOK", "1m", T0, T0 + 2 * DAY)
    assert sorted((r.start, r.end) for r in seen) == [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)]
    assert all(r.rows == 1440 and r.node_id == "demo:HOOK" for r in seen)
