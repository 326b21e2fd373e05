"""Every fill obeys the read that caused it (issue 8, defects 1 and 2).

The detached fills of PARTIAL_FILL and of large SEAMLESS gaps used the
backfiller's own defaults (3 attempts, 200 ms backoff, partial_ok=False)
instead of the read's; AUTO_BACKFILL returned bars with a violation instead of
raising when the storage budget or the total deadline ran out outside a wait.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
import pytest

from seamless_sdk import (
    FillPolicy,
    LocalStore,
    RangeSet,
    SeamlessSLAExceeded,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
)
from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.intervals import Interval

from .conftest import DAY, HOUR, T0, MakeProvider


class FailingFetcher:
    """Always raises, counting calls and the time between them."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.lock = threading.Lock()

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        with self.lock:
            self.calls.append(time.perf_counter())
        raise ConnectionError("upstream down")


class OneBadBar(SyntheticFetcher):
    """Synthetic bars with one bar whose high is below its low."""

    def __init__(self, bad_ts: int) -> None:
        super().__init__(seed=3)
        self.bad_ts = bad_ts

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        frame = super().fetch(node_id, interval, start, end)
        hit = frame["ts"] == self.bad_ts
        frame.loc[hit, "high"] = frame.loc[hit, "low"] - 1.0
        return frame


class RecordingBackfiller:
    """A detached backfiller that only records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, RangeSet, FillPolicy]] = []

    def request(
        self, node_id: str, interval: Interval, ranges: RangeSet, *, policy: FillPolicy
    ) -> BackfillTicket:
        self.asked.append((node_id, ranges, policy))
        return BackfillTicket(requested=ranges)

    def close(self, timeout: float | None = None) -> None:
        return None


class SlowStore(LocalStore):
    """A LocalStore whose coverage look-ups (alone or with the bars, as a read's
    storage phase makes them) take ``delay_s`` (a busy disk)."""

    delay_s = 0.02

    def coverage(self, node_id: Any, interval: Any) -> RangeSet:
        time.sleep(self.delay_s)
        return super().coverage(node_id, interval)

    def read_covered_many(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self.delay_s)
        return super().read_covered_many(*args, **kwargs)


def _settle(provider: Any) -> None:
    """Wait for the background fills to finish."""
    assert provider.backfiller.wait_idle(10)


@pytest.mark.parametrize("strategy", [Strategy.PARTIAL_FILL, Strategy.SEAMLESS])
def test_detached_fill_takes_the_reads_retry_policy(
    make_provider: MakeProvider, strategy: Strategy
) -> None:
    fetcher = FailingFetcher()
    p = make_provider(fetcher)
    sla = SLAPolicy(max_attempts=1, retry_backoff_ms=0, max_sync_gap_bars=10)
    res = p.read("demo:P", "1m", T0, T0 + HOUR, strategy=strategy, sla=sla)
    assert res.meta.backfill.detached == RangeSet([(T0, T0 + HOUR)])
    _settle(p)
    assert len(fetcher.calls) == 1


def test_detached_fill_retries_as_often_and_as_patiently_as_the_read_says(
    make_provider: MakeProvider,
) -> None:
    fetcher = FailingFetcher()
    p = make_provider(fetcher)
    sla = SLAPolicy(max_attempts=2, retry_backoff_ms=50, jitter_ratio=0)
    p.read("demo:P", "1m", T0, T0 + HOUR, strategy=Strategy.PARTIAL_FILL, sla=sla)
    _settle(p)
    assert len(fetcher.calls) == 2
    assert 0.045 <= fetcher.calls[1] - fetcher.calls[0] < 0.5


def test_detached_fill_with_partial_ok_covers_every_good_bar(
    make_provider: MakeProvider, store_path: Any
) -> None:
    bad = T0 + 17 * 60
    background = make_provider(OneBadBar(bad))
    background.read("demo:Q", "1m", T0, T0 + HOUR, strategy=Strategy.PARTIAL_FILL, partial_ok=True)
    _settle(background)
    synchronous = make_provider(OneBadBar(bad))
    synchronous.read(
        "demo:R", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL, partial_ok=True
    )
    with LocalStore(store_path) as store:
        expected = RangeSet([(T0, T0 + HOUR)]).subtract(RangeSet([(bad, bad + 60)]))
        assert store.coverage("demo:Q", "1m") == expected
        assert store.coverage("demo:R", "1m") == expected


def test_the_detached_backfiller_gets_the_reads_policy(make_provider: MakeProvider) -> None:
    recorder = RecordingBackfiller()
    p = make_provider(SyntheticFetcher(seed=1), backfiller=recorder)
    sla = SLAPolicy(max_attempts=5, retry_backoff_ms=10, jitter_ratio=0.5)
    p.read("demo:D", "1m", T0, T0 + DAY, strategy=Strategy.PARTIAL_FILL, sla=sla, partial_ok=True)
    assert recorder.asked == [
        (
            "demo:D",
            RangeSet([(T0, T0 + DAY)]),
            FillPolicy(partial_ok=True, max_attempts=5, retry_backoff_ms=10, jitter_ratio=0.5),
        )
    ]


def test_synchronous_fill_takes_the_reads_retry_policy(make_provider: MakeProvider) -> None:
    fetcher = FailingFetcher()
    p = make_provider(fetcher)
    res = p.read(
        "demo:S", "1m", T0, T0 + HOUR, sla=SLAPolicy(max_attempts=None, retry_backoff_ms=None)
    )
    assert len(fetcher.calls) == 1
    assert res.meta.missing == RangeSet([(T0, T0 + HOUR)])
    assert any("backfill failed" in note for note in res.meta.notes)


def _stored_month(store_path: Any, node: str) -> None:
    from seamless_sdk import SeamlessDataProvider

    with SeamlessDataProvider(LocalStore(store_path), SyntheticFetcher(seed=2)) as p:
        p.ensure_available(node, "1m", T0, T0 + 30 * DAY, strategy=Strategy.AUTO_BACKFILL)


def test_auto_backfill_raises_when_the_storage_budget_runs_out(
    make_provider: MakeProvider, store_path: Any, registry: Any
) -> None:
    _stored_month(store_path, "demo:M")
    from seamless_sdk import SeamlessDataProvider

    with SeamlessDataProvider(SlowStore(store_path), None, registry=registry) as p:
        with pytest.raises(SeamlessSLAExceeded) as info:
            p.read(
                "demo:M",
                "1m",
                T0,
                T0 + 30 * DAY,
                strategy=Strategy.AUTO_BACKFILL,
                sla=SLAPolicy(max_wait_storage_ms=1),
            )
        assert info.value.phase == "storage"
        assert info.value.budget_ms == 1
        assert info.value.elapsed_ms > 1
        assert info.value.report.violation == "storage"
        # SEAMLESS keeps returning the bars, with the violation set.
        res = p.read("demo:M", "1m", T0, T0 + 30 * DAY, sla=SLAPolicy(max_wait_storage_ms=1))
        assert len(res.df) == 30 * 1440
        assert res.meta.sla_report.violation == "storage"


def test_auto_backfill_raises_when_the_total_deadline_runs_out_outside_a_wait(
    store_path: Any, registry: Any
) -> None:
    _stored_month(store_path, "demo:T")
    from seamless_sdk import SeamlessDataProvider

    with SeamlessDataProvider(SlowStore(store_path), None, registry=registry) as p:
        with pytest.raises(SeamlessSLAExceeded) as info:
            p.read(
                "demo:T",
                "1m",
                T0,
                T0 + DAY,
                strategy=Strategy.AUTO_BACKFILL,
                sla=SLAPolicy(total_deadline_ms=5),
            )
        assert info.value.phase == "total"
        res = p.read("demo:T", "1m", T0, T0 + DAY, sla=SLAPolicy(total_deadline_ms=5))
        assert res.meta.sla_report.violation == "total"
        assert res.meta.missing == RangeSet()
