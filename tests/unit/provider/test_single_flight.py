"""Concurrent readers of one window share one fetch (invariant 3)."""

from __future__ import annotations

import asyncio
import threading

from seamless_sdk import RangeSet, Strategy, SyntheticFetcher
from seamless_sdk.fetchers import AsyncSyntheticFetcher

from .conftest import DAY, T0, MakeProvider


def test_eight_threads_one_fetch_per_window(make_provider: MakeProvider) -> None:
    fetcher = SyntheticFetcher(seed=3, delay_s=0.2)
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)
    barrier = threading.Barrier(8)
    results = []

    def reader() -> None:
        barrier.wait()
        results.append(p.read("demo:SF", "1m", T0, T0 + 2 * DAY))

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(len(r.df) == 2 * 1440 and not r.meta.missing for r in results)
    assert sorted(c[2:] for c in fetcher.calls) == [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)]
    attached = [r.meta.backfill.attached for r in results]
    assert sum(bool(a) for a in attached) >= 1


def test_eight_asyncio_tasks_one_fetch_per_window(make_provider: MakeProvider) -> None:
    fetcher = AsyncSyntheticFetcher(seed=4, delay_s=0.2)
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)

    async def main() -> list:  # type: ignore[type-arg]
        return await asyncio.gather(*(p.aread("demo:SF", "1m", T0, T0 + DAY) for _ in range(8)))

    results = asyncio.run(main())
    assert all(r.meta.coverage == RangeSet([(T0, T0 + DAY)]) for r in results)
    assert [c[2:] for c in fetcher.calls] == [(T0, T0 + DAY)]


def test_overlapping_requests_never_fetch_a_covered_bar(make_provider: MakeProvider) -> None:
    fetcher = SyntheticFetcher(seed=5, delay_s=0.1)
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)
    spans = [(T0, T0 + 7200), (T0 + 3600, T0 + 10800), (T0 + 1800, T0 + 5400)]
    threads = [threading.Thread(target=p.read, args=("demo:OV", "1m", s, e)) for s, e in spans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fetched = [c[2:] for c in fetcher.calls]
    total = sum(e - s for s, e in fetched)
    assert RangeSet(fetched) == RangeSet([(T0, T0 + 10800)])
    assert total == 10800, f"some bars were fetched twice: {fetched}"


def test_async_ensure_available_fills_and_reports(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=6), strategy=Strategy.AUTO_BACKFILL)
    meta = asyncio.run(p.aensure_available("demo:AE", "1m", T0, T0 + DAY))
    assert meta.coverage == RangeSet([(T0, T0 + DAY)]) and not meta.missing
