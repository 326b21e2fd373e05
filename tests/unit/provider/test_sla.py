"""SLA budgets are enforced by cancelling the wait, not checked afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from seamless_sdk import RangeSet, SeamlessSLAExceeded, SLAPolicy, Strategy

from .conftest import HOUR, T0, MakeProvider


class HangingFetcher:
    """Blocks until released (or 5 s), like an upstream API that stopped answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
        self.calls += 1
        self.release.wait(5)
        import pandas as pd

        return pd.DataFrame(
            {"ts": [], "open": [], "high": [], "low": [], "close": [], "volume": []}
        )


def test_seamless_returns_partial_at_the_deadline(make_provider: MakeProvider) -> None:
    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)
    t0 = time.perf_counter()
    res = p.read("demo:S", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=300))
    elapsed = time.perf_counter() - t0
    fetcher.release.set()
    assert 0.25 < elapsed < 1.0
    assert res.meta.sla_report.violation == "total"
    assert res.meta.missing == RangeSet([(T0, T0 + HOUR)])
    assert res.meta.backfill.detached == RangeSet([(T0, T0 + HOUR)])
    assert res.meta.sla_report.timeouts == 1
    assert res.meta.sla_report.budgets_ms["total"] == 300


def test_auto_backfill_raises_naming_the_phase(make_provider: MakeProvider) -> None:
    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)
    t0 = time.perf_counter()
    with pytest.raises(SeamlessSLAExceeded) as info:
        p.read(
            "demo:S",
            "1m",
            T0,
            T0 + HOUR,
            strategy=Strategy.AUTO_BACKFILL,
            sla=SLAPolicy(total_deadline_ms=2000, max_wait_backfill_ms=200),
        )
    fetcher.release.set()
    assert time.perf_counter() - t0 < 1.0
    assert info.value.phase == "backfill"
    assert info.value.budget_ms == 200
    assert info.value.elapsed_ms >= 150
    assert info.value.report.violation == "backfill"


def test_async_read_deadline(make_provider: MakeProvider) -> None:
    import asyncio

    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)

    async def main() -> float:
        t0 = time.perf_counter()
        with pytest.raises(SeamlessSLAExceeded) as info:
            await p.aread(
                "demo:S",
                "1m",
                T0,
                T0 + HOUR,
                strategy=Strategy.AUTO_BACKFILL,
                sla=SLAPolicy(total_deadline_ms=300),
            )
        assert info.value.phase == "total"
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    fetcher.release.set()
    assert elapsed < 1.0


def test_sla_policy_rejects_bad_values() -> None:
    from seamless_sdk import InvalidRequestError

    with pytest.raises(InvalidRequestError) as info:
        SLAPolicy(total_deadline_ms=-1)
    assert info.value.field == "sla.total_deadline_ms"
