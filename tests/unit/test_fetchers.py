"""Tests of the shipped fetchers: synthetic bars and file-backed bars."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_sdk.bars import BAR_COLUMNS, empty_bar_frame
from seamless_sdk.errors import InvalidRequestError, SourceError
from seamless_sdk.fetchers import (
    AsyncSyntheticFetcher,
    FileFetcher,
    SyntheticFetcher,
    node_file_stem,
    synthetic_bars,
)
from seamless_sdk.fetchers import files as files_module

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
NODE = "demo:BTCUSDT"


# -- synthetic ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("interval", "seconds", "bars"),
    [("1s", 1, 5000), ("1m", 60, 20_000), ("5m", 300, 3000), ("1h", 3600, 2000), ("1d", DAY, 800)],
)
def test_synthetic_bar_is_independent_of_the_window(interval: str, seconds: int, bars: int) -> None:
    """Windows that start mid-octave (7, 513, ...) must still agree bar for bar."""
    f = SyntheticFetcher(seed=3)
    a, c = T0 - 7 * seconds, T0 + bars * seconds
    mid = a + (514 + (bars - 507) // 2) * seconds
    cuts = [a, a + 513 * seconds, a + 514 * seconds, mid, c]
    assert cuts == sorted(cuts)
    whole = f.fetch(NODE, interval, a, c)
    parts = [f.fetch(NODE, interval, s, e) for s, e in itertools.pairwise(cuts)]
    pd.testing.assert_frame_equal(whole, pd.concat(parts, ignore_index=True))
    assert len(whole) == (c - a) // seconds


@settings(max_examples=60, deadline=None)
@given(
    a=st.integers(-(8**7), 8**7),
    widths=st.lists(st.integers(0, 3000), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_synthetic_concat_property(a: int, widths: list[int], seed: int) -> None:
    """Any split of a window, including before 1970, gives the same bars."""
    cuts = [a]
    for w in widths:
        cuts.append(cuts[-1] + w)
    whole = synthetic_bars(seed, NODE, 60, cuts[0] * 60, cuts[-1] * 60)
    parts = [synthetic_bars(seed, NODE, 60, s * 60, e * 60) for s, e in itertools.pairwise(cuts)]
    pd.testing.assert_frame_equal(whole, pd.concat(parts, ignore_index=True))


def test_synthetic_bars_are_valid_ohlcv() -> None:
    df = SyntheticFetcher(volatility=0.01).fetch(NODE, "1m", T0, T0 + 30 * DAY)
    assert list(df.columns) == list(BAR_COLUMNS)
    assert df["ts"].dtype == np.int64
    assert all(df[c].dtype == np.float64 for c in BAR_COLUMNS[1:])
    ts = df["ts"].to_numpy()
    assert (np.diff(ts) == 60).all() and ts[0] == T0 and ts[-1] == T0 + 30 * DAY - 60
    o, h, lo, c, v = (df[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (h >= np.maximum(o, c)).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (lo > 0).all() and (v >= 0).all()
    assert np.isfinite(df[list(BAR_COLUMNS[1:])].to_numpy()).all()
    assert (o[1:] == c[:-1]).all(), "a bar opens at the previous close"
    # A random-walk-like series: it moves, and not by absurd steps.
    steps = np.abs(np.diff(np.log(c)))
    assert steps.mean() > 0 and steps.max() < 1.0
    assert (h > np.maximum(o, c)).mean() > 0.9


def test_synthetic_depends_on_seed_node_and_interval() -> None:
    base = synthetic_bars(0, NODE, 60, T0, T0 + 3600)
    assert base.equals(synthetic_bars(0, NODE, 60, T0, T0 + 3600))
    for other in (
        synthetic_bars(1, NODE, 60, T0, T0 + 3600),
        synthetic_bars(0, "demo:ETHUSDT", 60, T0, T0 + 3600),
    ):
        assert not np.allclose(base["close"], other["close"])
    hourly = synthetic_bars(0, NODE, 3600, T0, T0 + 3600)
    assert hourly["volume"].iloc[0] > base["volume"].max(), "volume scales with the interval"


def test_synthetic_start_price_and_misaligned_or_empty_windows() -> None:
    f = SyntheticFetcher(start_price=5000.0)
    assert 500 < f.fetch(NODE, "1h", T0, T0 + DAY)["close"].iloc[0] < 50_000
    df = f.fetch(NODE, "1m", T0 + 30, T0 + 150)
    assert df["ts"].tolist() == [T0 + 60, T0 + 120]
    empty = f.fetch(NODE, "1m", T0, T0)
    assert list(empty.columns) == list(BAR_COLUMNS) and len(empty) == 0
    assert empty["ts"].dtype == np.int64


def test_synthetic_rejects_bad_arguments() -> None:
    with pytest.raises(InvalidRequestError) as info:
        SyntheticFetcher().fetch(NODE, "7m", T0, T0 + 60)
    assert info.value.field == "interval"
    for kwargs in ({"start_price": 0.0}, {"volatility": -1.0}, {"delay_s": -0.1}):
        with pytest.raises(ValueError):
            SyntheticFetcher(**kwargs)  # type: ignore[arg-type]


def test_calls_are_recorded_from_8_threads() -> None:
    f = SyntheticFetcher()
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(50):
            f.fetch(f"n{i}", "1m", j * 60, (j + 1) * 60)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert f.call_count == 400
    expected = {(f"n{i}", "1m", j * 60, (j + 1) * 60) for i in range(8) for j in range(50)}
    assert set(f.calls) == expected
    f.reset_calls()
    assert f.call_count == 0 and f.calls == []


def test_generate_and_calls_false_do_not_record() -> None:
    f = SyntheticFetcher(calls=False)
    f.fetch(NODE, "1m", T0, T0 + 60)
    assert f.call_count == 0
    g = SyntheticFetcher()
    truth = g.generate(NODE, "1m", T0, T0 + 600)
    assert g.call_count == 0
    pd.testing.assert_frame_equal(truth, g.fetch(NODE, "1m", T0, T0 + 600))
    assert g.calls == [(NODE, "1m", T0, T0 + 600)]


def test_delay_is_slept_per_call() -> None:
    f = SyntheticFetcher(delay_s=0.05)
    t = time.perf_counter()
    f.fetch(NODE, "1m", T0, T0 + 60)
    f.fetch(NODE, "1m", T0, T0 + 60)
    assert time.perf_counter() - t >= 0.1


def test_gaps_drop_bars_and_keep_the_rest_identical() -> None:
    def no_trades(ts: np.ndarray) -> np.ndarray:
        return (ts // 60) % 3 == 0

    full = SyntheticFetcher().fetch(NODE, "1m", T0, T0 + 3600)
    gappy = SyntheticFetcher(gaps=no_trades).fetch(NODE, "1m", T0, T0 + 3600)
    assert len(gappy) == 40
    assert not ((gappy["ts"] // 60) % 3 == 0).any()
    kept = full.loc[(full["ts"] // 60) % 3 != 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(gappy, kept)
    bad = SyntheticFetcher(gaps=lambda ts: np.zeros(3, dtype=bool))
    with pytest.raises(ValueError, match="boolean mask"):
        bad.fetch(NODE, "1m", T0, T0 + 3600)


def test_async_fetcher_matches_sync_and_runs_concurrently() -> None:
    f = AsyncSyntheticFetcher(seed=9, delay_s=0.2)

    async def main() -> list[pd.DataFrame]:
        return await asyncio.gather(
            *(f.fetch(NODE, "1m", T0 + i * 3600, T0 + (i + 1) * 3600) for i in range(8))
        )

    t = time.perf_counter()
    frames = asyncio.run(main())
    elapsed = time.perf_counter() - t
    assert elapsed < 1.0, "the eight 0.2 s delays overlap"
    assert f.call_count == 8
    sync = SyntheticFetcher(seed=9).fetch(NODE, "1m", T0, T0 + 8 * 3600)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), sync)
    assert asyncio.iscoroutinefunction(f.fetch)


# -- files -------------------------------------------------------------------------
def _bars(n: int = 120, start: int = T0) -> pd.DataFrame:
    return synthetic_bars(0, NODE, 60, start, start + n * 60)


def _utc(seconds: pd.Series | list[int]) -> pd.Series:
    return pd.Series(pd.to_datetime(pd.Series(seconds), unit="s", utc=True).dt.as_unit("ns"))


def test_node_file_stem() -> None:
    assert node_file_stem("demo:BTCUSDT") == "demo_BTCUSDT"
    assert node_file_stem("a.b-c_d") == "a.b-c_d"
    for bad in ("../etc", "a/b", ".hidden", "a b", "x\n"):
        with pytest.raises(InvalidRequestError):
            node_file_stem(bad)


def test_csv_with_epoch_seconds(tmp_path: Path) -> None:
    src = _bars()
    src["venue"] = "X"
    src.to_csv(tmp_path / "demo_BTCUSDT.csv", index=False)
    df = FileFetcher(tmp_path).fetch(NODE, "1m", T0 + 600, T0 + 1200)
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert df["ts"].tolist() == _utc(list(range(T0 + 600, T0 + 1200, 60))).tolist()
    want = src.iloc[10:20].reset_index(drop=True)
    np.testing.assert_allclose(df[["open", "close"]].to_numpy(), want[["open", "close"]].to_numpy())
    assert list(df.columns) == [*BAR_COLUMNS, "venue"], "extra columns pass through"
    assert df.index.tolist() == list(range(10))


def test_parquet_with_datetimes_aware_and_naive(tmp_path: Path) -> None:
    src = _bars()
    aware = src.assign(ts=_utc(src["ts"]).dt.tz_convert("America/New_York"))
    aware.to_parquet(tmp_path / "demo_BTCUSDT.parquet")
    naive = src.assign(ts=_utc(src["ts"]).dt.tz_localize(None))
    naive.to_parquet(tmp_path / "other.parquet")
    fetcher = FileFetcher(tmp_path)
    for node in (NODE, "other"):
        df = fetcher.fetch(node, "1m", T0, T0 + 300)
        assert df["ts"].tolist() == _utc([T0 + 60 * i for i in range(5)]).tolist(), node
        np.testing.assert_array_equal(df["close"].to_numpy(), src["close"].to_numpy()[:5])


def test_iso_strings_with_offsets_filter_in_utc(tmp_path: Path) -> None:
    """Offsets are converted and naive strings mean UTC, so the same instant
    written three ways lands in the same window; rows are out of order."""
    text = (
        "ts,open,high,low,close,volume\n"
        "2024-01-01T00:02:00Z,3,3,3,3,1\n"
        "2024-01-01T01:00:00+01:00,1,1,1,1,1\n"  # 00:00 UTC
        "2023-12-31 19:01:00-05:00,2,2,2,2,1\n"  # 00:01 UTC
        "2024-01-01 00:03:00,4,4,4,4,1\n"
        "2023-12-31T23:59:00Z,0,0,0,0,1\n"
    )
    (tmp_path / "demo_BTCUSDT.csv").write_text(text)
    df = FileFetcher(tmp_path).fetch(NODE, "1m", T0, T0 + 180)
    assert df["open"].tolist() == [3.0, 1.0, 2.0], "rows keep file order, filtered in UTC"
    assert sorted(df["ts"].tolist()) == _utc([T0, T0 + 60, T0 + 120]).tolist()


def test_pattern_with_interval_and_missing_file(tmp_path: Path) -> None:
    _bars().to_parquet(tmp_path / "demo_BTCUSDT-1m.parquet")
    f = FileFetcher(tmp_path, pattern="{node}-{interval}.{ext}")
    assert len(f.fetch(NODE, "1m", T0, T0 + 600)) == 10
    missing = f.fetch(NODE, "5m", T0, T0 + 600)
    pd.testing.assert_frame_equal(missing, empty_bar_frame(flags=False))
    assert str(missing["ts"].dtype) == "datetime64[ns, UTC]"
    assert len(FileFetcher(tmp_path / "nowhere").fetch(NODE, "1m", T0, T0 + 60)) == 0
    with pytest.raises(InvalidRequestError) as info:
        FileFetcher(tmp_path, pattern="{symbol}.csv")
    assert info.value.field == "pattern"
    with pytest.raises(InvalidRequestError):
        f.fetch("../x", "1m", T0, T0 + 60)


def test_single_file_with_node_column_and_ms_unit(tmp_path: Path) -> None:
    a, b = _bars(10), _bars(10).assign(close=-1.0)
    both = pd.concat([a.assign(node_id="demo:A"), b.assign(node_id="demo:B")])
    both["ts"] = both["ts"] * 1000
    path = tmp_path / "all.csv.gz"
    both.to_csv(path, index=False)
    f = FileFetcher(path, ts_unit="ms")
    got_b = f.fetch("demo:B", "1m", T0, T0 + 600)
    assert (got_b["close"] == -1.0).all() and len(got_b) == 10
    assert f.fetch("demo:A", "1m", T0, T0 + 120)["close"].tolist() == a["close"][:2].tolist()
    assert len(f.fetch("demo:C", "1m", T0, T0 + 600)) == 0


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("demo_BTCUSDT.parquet", b"not parquet at all", "cannot read"),
        ("demo_BTCUSDT.csv", b"time,open\n1,2\n", "no 'ts' column"),
        ("demo_BTCUSDT.csv", b"ts,open\nyesterday,2\n", "not a timestamp"),
        ("demo_BTCUSDT.csv", b"ts,open\n1704067200,2\n,3\n", "no 'ts' timestamp"),
        ("demo_BTCUSDT.csv", b"", "cannot read"),
    ],
)
def test_unreadable_files_raise_source_error(
    tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError, match=match) as info:
        FileFetcher(tmp_path).fetch(NODE, "1m", T0, T0 + 60)
    assert info.value.path == str(tmp_path / name)


def test_parsed_file_is_cached_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real_read = files_module._read

    def counting_read(path: Path) -> pd.DataFrame:
        reads.append(path)
        return real_read(path)

    monkeypatch.setattr(files_module, "_read", counting_read)
    path = tmp_path / "demo_BTCUSDT.csv"
    _bars().to_csv(path, index=False)
    f = FileFetcher(tmp_path)
    first = f.fetch(NODE, "1m", T0, T0 + 600)
    f.fetch(NODE, "1m", T0 + 600, T0 + 1200)
    assert len(reads) == 1
    _bars().assign(close=7.0).to_csv(path, index=False)
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    second = f.fetch(NODE, "1m", T0, T0 + 600)
    assert len(reads) == 2
    assert (second["close"] == 7.0).all() and not (first["close"] == 7.0).any()
