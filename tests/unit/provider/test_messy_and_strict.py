"""Messy fetcher frames through a read, and strict calendar checks
(DESIGN.md, "Contract details": messy timestamps, what a fetch covers)."""

from __future__ import annotations

import pandas as pd
import pytest

from seamless_sdk import ConformanceError, RangeSet, Strategy

from .conftest import DAY, T0, MakeProvider


class FrameFetcher:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls: list[tuple[str, str, int, int]] = []

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        self.calls.append((node_id, interval, start, end))
        return self.frame


def bar(ts: object, o: float, h: float, lo: float, c: float, v: float) -> dict[str, object]:
    return {"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": v}


def test_messy_rows_are_converted_deduplicated_rolled_up_and_counted(
    make_provider: MakeProvider,
) -> None:
    """Naive strings are UTC, zones convert, a duplicate row is dropped, two
    samples in one bar roll up, a row outside the window is dropped, order fixed."""
    rows = [
        bar("2024-01-01T00:02:00", 3, 4, 2, 3.5, 1),  # naive = UTC
        bar("2024-01-01T01:00:30+01:00", 1, 2, 0.5, 1.5, 2),  # 00:00:30 UTC: bar 00:00
        bar(pd.Timestamp("2024-01-01 00:00:45", tz="UTC"), 1.5, 3, 1, 2.5, 3),  # same bar
        bar("2024-01-01T00:02:00", 3, 4, 2, 3.5, 1),  # duplicate
        bar("2023-12-31T23:59:00", 9, 9, 9, 9, 9),  # outside the window
        bar("2024-01-01T00:01:00", 2, 2.5, 1.5, 2, 4),
    ]
    fetcher = FrameFetcher(pd.DataFrame(rows))
    p = make_provider(fetcher, strategy=Strategy.AUTO_BACKFILL, lineage=True)
    res = p.read("demo:M", "1m", T0, T0 + 600)
    df = res.df
    assert list(df["ts"]) == [pd.Timestamp(T0 + k * 60, unit="s", tz="UTC") for k in range(3)]
    first = df.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        1.0,
        3.0,
        0.5,
        2.5,
        5.0,
    )
    q = res.meta.quality_summary
    assert q["duplicates"] == 1
    assert q["rolled_up"] == 1
    assert q["dropped_outside_window"] == 1
    assert q["gaps"] == 7  # 10 bars covered, 3 returned: minutes with no trades
    assert res.meta.coverage == RangeSet([(T0, T0 + 600)]) and not res.meta.missing
    assert fetcher.calls == [("demo:M", "1m", T0, T0 + 600)]


def test_strict_passes_on_a_complete_24_7_series(make_provider: MakeProvider) -> None:
    from seamless_sdk import SyntheticFetcher

    p = make_provider(SyntheticFetcher(seed=1), strategy=Strategy.AUTO_BACKFILL, strict=True)
    res = p.read("demo:S", "1h", T0, T0 + DAY)
    assert len(res.df) == 24 and res.meta.strict


def test_strict_rejects_missing_bars(make_provider: MakeProvider) -> None:
    from seamless_sdk import SyntheticFetcher

    holes = SyntheticFetcher(seed=1, gaps=lambda ts: ts % 7200 == 0)
    p = make_provider(holes, strategy=Strategy.AUTO_BACKFILL)
    relaxed = p.read("demo:S", "1h", T0, T0 + DAY)
    assert len(relaxed.df) == 12 and relaxed.meta.quality_summary["gaps"] == 12
    with pytest.raises(ConformanceError) as info:
        p.read("demo:S", "1h", T0, T0 + DAY, strict=True)
    assert "expected 24 bars, got 12" in str(info.value)


def test_strict_uses_the_node_calendar(make_provider: MakeProvider) -> None:
    """XNYS: 2024-01-01 is a holiday and 01-02 trades 14:30-21:00 UTC."""
    from seamless_sdk import SyntheticFetcher

    open_hours = SyntheticFetcher(
        seed=2,
        gaps=lambda ts: ~(((ts - T0 - DAY) >= 14 * 3600 + 1800) & ((ts - T0 - DAY) < 21 * 3600)),
    )
    p = make_provider(open_hours, strategy=Strategy.AUTO_BACKFILL, calendars={"XNYS:SPY": "XNYS"})
    res = p.read("XNYS:SPY", "1m", T0, T0 + 2 * DAY, strict=True)
    assert len(res.df) == 390
    assert res.meta.quality_summary["gaps"] == 0
