"""Each strategy's behaviour on missing data (DESIGN.md, "Strategies and SLA")."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from seamless_sdk import (
    DataUnavailableError,
    HistoryResult,
    RangeSet,
    SLAPolicy,
    Source,
    Strategy,
    SyntheticFetcher,
)

from .conftest import DAY, HOUR, T0, MakeProvider


def assert_frame_contract(df: pd.DataFrame, start: int, end: int) -> None:
    assert list(df.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert all(df[c].dtype == np.float64 for c in ["open", "high", "low", "close", "volume"])
    secs = df["ts"].array.asi8 // 10**9
    assert (np.diff(secs) > 0).all()
    assert len(secs) == 0 or (secs[0] >= start and secs[-1] < end)


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_fail_fast_raises_with_missing_and_never_fetches(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    p = make_provider(fetcher)
    with pytest.raises(DataUnavailableError) as info:
        p.read("demo:A", "1m", T0, T0 + HOUR, strategy=Strategy.FAIL_FAST)
    assert info.value.missing == RangeSet([(T0, T0 + HOUR)])
    assert fetcher.call_count == 0


@pytest.mark.parametrize(
    ("with_fetcher", "sources", "says"),
    [
        (False, None, "no fetcher is configured"),
        (True, ("cache", "storage"), "source_priority leaves out backfill"),
    ],
    ids=["no-fetcher", "no-backfill-source"],
)
def test_auto_backfill_that_cannot_fill_raises_instead_of_answering_partial(
    make_provider: MakeProvider,
    fetcher: SyntheticFetcher,
    with_fetcher: bool,
    sources: tuple[str, ...] | None,
    says: str,
) -> None:
    # It answered the gap as missing, with no violation (and, with the sources
    # left out, not even a note): AUTO_BACKFILL promises every closed bar.
    p = make_provider(fetcher if with_fetcher else None)
    with pytest.raises(DataUnavailableError, match=says) as info:
        p.read(
            "demo:A", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL, source_priority=sources
        )
    assert info.value.missing == RangeSet([(T0, T0 + HOUR)])
    assert fetcher.call_count == 0
    # A stored window is answered as before.
    make_provider(fetcher).read("demo:A", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    whole = p.read(
        "demo:A", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL, source_priority=sources
    )
    assert len(whole.df) == 60 and not whole.meta.missing


def test_auto_backfill_fills_everything_then_serves_from_storage_and_cache(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)
    start, end = T0 + 600, T0 + 2 * DAY - 600
    result = p.read("demo:A", "1m", start, end)
    assert isinstance(result, HistoryResult)
    df, meta = result
    assert_frame_contract(df, start, end)
    assert len(df) == (end - start) // 60
    assert meta.missing == RangeSet() and meta.coverage == RangeSet([(start, end)])
    assert meta.source_contributions == {Source.BACKFILL: RangeSet([(start, end)])}
    # Fetches are exactly the missing range, split at chunk (UTC day) boundaries.
    assert sorted(c[2:] for c in fetcher.calls) == [(start, T0 + DAY), (T0 + DAY, end)]
    assert all(c[1] == "1m" for c in fetcher.calls)
    assert meta.watermarks.event_time_low == start
    assert meta.watermarks.event_time_high == end
    assert meta.backfill.synchronous == RangeSet([(start, end)])

    again = p.read("demo:A", "1m", start, end)
    pd.testing.assert_frame_equal(again.df, df)
    assert again.meta.source_contributions == {Source.CACHE: RangeSet([(start, end)])}
    assert fetcher.call_count == 2

    p.cache.clear()
    third = p.read("demo:A", "1m", start, T0 + DAY)
    assert third.meta.source_contributions == {Source.STORAGE: RangeSet([(start, T0 + DAY)])}
    pd.testing.assert_frame_equal(third.df, df.iloc[: (T0 + DAY - start) // 60])
    assert fetcher.call_count == 2


class GatedFetcher(SyntheticFetcher):
    """Synthetic bars, but every fetch waits until ``gate`` is open."""

    def __init__(self) -> None:
        super().__init__(seed=1)
        self.gate = threading.Event()

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        self.gate.wait(30)
        return super().fetch(node_id, interval, start, end)


def test_partial_fill_returns_now_and_backfills_in_background(
    make_provider: MakeProvider,
) -> None:
    gated = GatedFetcher()
    p = make_provider(gated, strategy=Strategy.PARTIAL_FILL)
    gated.gate.set()
    p.read("demo:B", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    gated.gate.clear()
    # With the fetcher blocked, the read can only return by not waiting for it.
    res = p.read("demo:B", "1m", T0, T0 + 3 * HOUR)
    assert len(res.df) == 60
    assert res.meta.missing == RangeSet([(T0 + HOUR, T0 + 3 * HOUR)])
    assert res.meta.coverage.union(res.meta.missing) == RangeSet([(T0, T0 + 3 * HOUR)])
    assert res.meta.backfill.detached == RangeSet([(T0 + HOUR, T0 + 3 * HOUR)])
    assert res.meta.backfill.run_ids
    gated.gate.set()
    wait_for(lambda: p.coverage("demo:B", "1m").covers(T0, T0 + 3 * HOUR))
    done = p.read("demo:B", "1m", T0, T0 + 3 * HOUR, strategy=Strategy.FAIL_FAST)
    assert len(done.df) == 180 and not done.meta.missing


def test_seamless_fills_small_gaps_and_detaches_large_ones(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    p = make_provider(fetcher, sla=SLAPolicy(max_sync_gap_bars=120))
    # Storage holds [T0+1h, T0+2h); the request misses 1h before (small) and 10h after (large).
    p.read("demo:C", "1m", T0 + HOUR, T0 + 2 * HOUR, strategy=Strategy.AUTO_BACKFILL)
    res = p.read("demo:C", "1m", T0, T0 + 12 * HOUR)
    meta = res.meta
    assert meta.strategy is Strategy.SEAMLESS
    assert meta.source_contributions[Source.BACKFILL] == RangeSet([(T0, T0 + HOUR)])
    assert Source.CACHE in meta.source_contributions or Source.STORAGE in meta.source_contributions
    assert meta.missing == RangeSet([(T0 + 2 * HOUR, T0 + 12 * HOUR)])
    assert meta.backfill.detached == RangeSet([(T0 + 2 * HOUR, T0 + 12 * HOUR)])
    assert len(res.df) == 120
    assert any("max_sync_gap_bars" in n for n in meta.notes)
    wait_for(lambda: p.coverage("demo:C", "1m").covers(T0, T0 + 12 * HOUR))


def test_now_edge_never_covers_a_forming_bar(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    now = T0 + 10 * 60 + 30  # 00:10:30: the 00:10 bar is still forming
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL, clock=lambda: now)
    res = p.read("demo:D", "1m", T0, T0 + 20 * 60)
    assert res.meta.coverage == RangeSet([(T0, T0 + 600)])
    assert res.meta.missing == RangeSet([(T0 + 600, T0 + 1200)])
    assert len(res.df) == 10
    assert p.coverage("demo:D", "1m") == RangeSet([(T0, T0 + 600)])
    assert [c[2:] for c in fetcher.calls] == [(T0, T0 + 600)]


def test_seamless_asks_live_for_the_bars_past_the_edge(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    now = T0 + 10 * 60 + 30
    live = SyntheticFetcher(seed=7)
    p = make_provider(fetcher, live=live, lineage=True, clock=lambda: now)
    res = p.read("demo:E", "1m", T0, T0 + 11 * 60)
    assert res.meta.missing == RangeSet()
    assert res.meta.source_contributions[Source.LIVE] == RangeSet([(T0 + 600, T0 + 660)])
    assert list(res.df.columns) == [
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "source",
        "flags",
    ]
    last = res.df.iloc[-1]
    assert last["source"] == "live"
    from seamless_sdk import Flag

    assert last["flags"] & Flag.LIVE and last["flags"] & Flag.PARTIAL_BAR
    assert set(res.df["source"].iloc[:-1]) == {"backfill"}
    assert p.coverage("demo:E", "1m") == RangeSet([(T0, T0 + 600)])


def test_seamless_takes_no_bar_from_live_that_has_not_opened(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    # A live source may answer for any range; only the forming bar is real.
    now = T0 + 10 * 60 + 30
    live = SyntheticFetcher(seed=7)
    p = make_provider(fetcher, live=live, lineage=True, clock=lambda: now)
    res = p.read("demo:E2", "1m", T0, T0 + 15 * 60)
    assert res.meta.source_contributions[Source.LIVE] == RangeSet([(T0 + 600, T0 + 660)])
    assert res.meta.missing == RangeSet([(T0 + 660, T0 + 900)])
    assert res.df["ts"].iloc[-1] == pd.Timestamp(T0 + 600, unit="s", tz="UTC")
    assert res.meta.watermarks.event_time_high == T0 + 660
    assert [c[2:] for c in live.calls] == [(T0 + 600, T0 + 660)]


def test_start_equals_end_is_empty_without_fetch(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    p = make_provider(fetcher)
    res = p.read("demo:F", "1m", T0, T0)
    assert res.df.empty and list(res.df.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert str(res.df["ts"].dtype) == "datetime64[ns, UTC]"
    assert res.meta.coverage == RangeSet() and res.meta.missing == RangeSet()
    assert fetcher.call_count == 0


def test_return_meta_false_gives_the_frame(
    make_provider: MakeProvider, fetcher: SyntheticFetcher
) -> None:
    p = make_provider(fetcher, strategy="auto_backfill")
    df = p.read("demo:G", "5m", "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z", return_meta=False)
    assert isinstance(df, pd.DataFrame) and len(df) == 12
    meta = p.ensure_available("demo:G", "5m", T0, T0 + 2 * HOUR, strategy=Strategy.AUTO_BACKFILL)
    assert meta.coverage == RangeSet([(T0, T0 + 2 * HOUR)])
    assert meta.coverage_ranges == meta.coverage and meta.missing_ranges == meta.missing


def test_meta_to_dict_is_json(make_provider: MakeProvider, fetcher: SyntheticFetcher) -> None:
    import json

    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL)
    meta = p.read("demo:I", "1h", T0, T0 + DAY).meta
    payload = json.loads(json.dumps(meta.to_dict()))
    assert payload["coverage"] == [[T0, T0 + DAY]]
    assert payload["strategy"] == "auto_backfill"
    assert payload["quality_summary"]["gaps"] == 0
    assert meta.quality_summary["flags"]["BACKFILLED"] == 24


@pytest.mark.parametrize(
    "strategy", [Strategy.AUTO_BACKFILL, Strategy.SEAMLESS, Strategy.PARTIAL_FILL]
)
def test_a_window_wholly_in_the_future_is_missing_not_an_error(
    make_provider: MakeProvider, strategy: Strategy
) -> None:
    """Nothing in it has closed yet: no fetch, all of it missing."""
    fetcher = SyntheticFetcher(seed=1)
    p = make_provider(fetcher)
    start = 9_000_000_000 - 9_000_000_000 % 86_400  # the year 2255
    res = p.read("demo:F", "1m", start, start + 3600, strategy=strategy)
    assert res.meta.missing == RangeSet([(start, start + 3600)])
    assert len(res.df) == 0
    assert fetcher.call_count == 0
