"""``provider.stream``: history, then live bars, each bar exactly once (issue 13).

Real time with 1s bars: every test lasts a few seconds of wall clock, so the
switch from history to live and several bar boundaries really happen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    Flag,
    InvalidRequestError,
    LocalStore,
    PushLiveFeed,
    SeamlessDataProvider,
    Strategy,
    SyntheticFetcher,
    SyntheticLiveFeed,
)

SEED = 11
NODE = "demo:LIVE"


def _now() -> int:
    return int(time.time())


def _provider(path: Path, live: Any, fetcher: Any = None, **kwargs: Any) -> SeamlessDataProvider:
    return SeamlessDataProvider(
        LocalStore(path),
        fetcher if fetcher is not None else SyntheticFetcher(seed=SEED),
        live=live,
        registry=CollectorRegistry(),
        lineage=True,
        **kwargs,
    )


def _expected(start: int, end: int) -> pd.DataFrame:
    return SyntheticFetcher(seed=SEED).generate(NODE, "1s", start, end)


def _seconds(frame: pd.DataFrame) -> np.ndarray:
    return frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64) // 1_000_000_000


def _assert_series(frames: list[pd.DataFrame], start: int, end: int) -> pd.DataFrame:
    """The frames put together are exactly the expected bars of [start, end)."""
    whole = pd.concat(frames, ignore_index=True)
    secs = _seconds(whole)
    assert (np.diff(secs) > 0).all(), "bars out of order or repeated"
    expected = _expected(start, end)
    assert secs.tolist() == expected["ts"].tolist()
    np.testing.assert_allclose(whole["close"].to_numpy(), expected["close"].to_numpy())
    return whole


def test_history_then_live_across_several_boundaries(tmp_path: Path) -> None:
    start = _now() - 30
    end = _now() + 3
    with _provider(tmp_path / "s.sqlite", SyntheticLiveFeed(seed=SEED, settle_s=0.02)) as p:
        with p.stream(NODE, "1s", start, end=end) as bars:
            frames = list(bars)
        whole = _assert_series(frames, start, end)
        live = whole[whole["source"] == "live"]
        assert len(live) >= 2
        assert (live["flags"] & int(Flag.LIVE)).all()
        assert (whole.loc[whole["source"] != "live", "flags"] & int(Flag.LIVE) == 0).all()
        # Closed live bars were stored: a later FAIL_FAST read serves them from storage.
        again = p.read(NODE, "1s", start, end, strategy=Strategy.FAIL_FAST)
        assert len(again.df) == end - start


def test_bars_that_close_during_the_history_read_arrive_once(tmp_path: Path) -> None:
    start = _now() - 600
    end = _now() + 4
    slow = SyntheticFetcher(seed=SEED, delay_s=1.5)  # the history read spans boundaries
    with _provider(
        tmp_path / "s.sqlite", SyntheticLiveFeed(seed=SEED, settle_s=0.02), fetcher=slow
    ) as p:
        frames = list(p.stream(NODE, "1s", start, end=end, strategy=Strategy.AUTO_BACKFILL))
    _assert_series(frames, start, end)


class _Pusher:
    """Pushes each closed 1s bar at its boundary, like a websocket client, and can
    drop the connection for a while."""

    def __init__(self, feed: PushLiveFeed) -> None:
        self.feed = feed
        self.stop = threading.Event()
        self.silent_until = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Pusher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def drop_for(self, seconds: float) -> None:
        self.silent_until = time.time() + seconds
        self.feed.disconnect("socket closed")

    def _run(self) -> None:
        last = _now()
        while not self.stop.is_set():
            time.sleep(max(0.0, last + 1 + 0.02 - time.time()))
            edge = _now()
            if time.time() >= self.silent_until and edge > last:
                self.feed.push(NODE, "1s", _expected(edge - 1, edge))
            last = edge


def test_a_feed_that_drops_is_resubscribed_and_its_gap_backfilled(tmp_path: Path) -> None:
    feed = PushLiveFeed()
    start = _now() - 20
    end = _now() + 6
    with _Pusher(feed) as pusher, _provider(tmp_path / "s.sqlite", feed) as p:
        stream = p.stream(NODE, "1s", start, end=end)
        frames = [next(stream)]
        threading.Timer(1.2, pusher.drop_for, args=(2.5,)).start()
        frames.extend(stream)
    whole = _assert_series(frames, start, end)
    assert stream.resubscriptions >= 1
    # The seconds the feed was silent came from the fetcher, flagged as backfilled.
    assert (whole["source"] == "backfill").sum() > 20


def test_a_slow_consumer_loses_nothing(tmp_path: Path) -> None:
    feed = PushLiveFeed(maxsize=2)
    start = _now() - 10
    end = _now() + 5
    with _Pusher(feed), _provider(tmp_path / "s.sqlite", feed) as p:
        stream = p.stream(NODE, "1s", start, end=end)
        frames = [next(stream)]
        time.sleep(3.5)  # pushes pile up past the queue's two events: a gap replaces them
        assert stream.parts.feed.subscribers(NODE, "1s") == 1  # type: ignore[attr-defined]
        frames.extend(stream)
    _assert_series(frames, start, end)


def test_the_forming_bar_is_shown_then_replaced_by_the_closed_one(tmp_path: Path) -> None:
    feed = SyntheticLiveFeed(seed=SEED, settle_s=0.02, partial_every_s=0.3)
    start = _now() - 5
    end = _now() + 3
    with _provider(tmp_path / "s.sqlite", feed) as p:
        frames = list(p.stream(NODE, "1s", start, end=end, include_partial=True))
    partial = pd.concat([f for f in frames if (f["flags"] & int(Flag.PARTIAL_BAR)).any()])
    closed = pd.concat([f for f in frames if not (f["flags"] & int(Flag.PARTIAL_BAR)).any()])
    assert len(partial) >= 1
    assert set(_seconds(partial)) <= set(_seconds(closed))
    _assert_series([closed], start, end)
    with LocalStore(tmp_path / "s.sqlite") as store:
        assert not (store.read(NODE, "1s", start, end)["flags"] & int(Flag.PARTIAL_BAR)).any()


def test_astream_is_the_same_series(tmp_path: Path) -> None:
    start = _now() - 10
    end = _now() + 2

    async def collect(p: SeamlessDataProvider) -> list[pd.DataFrame]:
        return [f async for f in p.astream(NODE, "1s", start, end=end)]

    with _provider(tmp_path / "s.sqlite", SyntheticLiveFeed(seed=SEED, settle_s=0.02)) as p:
        frames = asyncio.run(collect(p))
    _assert_series(frames, start, end)


def test_a_stream_of_the_past_needs_no_feed(tmp_path: Path) -> None:
    start = _now() - 120
    with _provider(tmp_path / "s.sqlite", None) as p:
        frames = list(p.stream(NODE, "1s", start, end=start + 60))
        _assert_series(frames, start, start + 60)
        with pytest.raises(InvalidRequestError, match=r"^live"):
            p.stream(NODE, "1s", start)


def test_closing_a_stream_stops_it(tmp_path: Path) -> None:
    with _provider(tmp_path / "s.sqlite", SyntheticLiveFeed(seed=SEED)) as p:
        stream = p.stream(NODE, "1m", _now() - _now() % 60 - 600)
        next(stream)
        threading.Timer(0.3, stream.close).start()
        t0 = time.perf_counter()
        list(stream)  # ends once closed, at the latest one poll later
        assert time.perf_counter() - t0 < 2
        assert stream.closed


def _poll_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("seamless-poll-")]


def _wait_until(condition: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


def test_leaving_a_stream_early_closes_its_subscription_at_once(tmp_path: Path) -> None:
    # close() used to only set a flag: the subscription (and a poller's
    # thread) lived until the generator was resumed or garbage-collected.
    push = PushLiveFeed()
    before = _poll_threads()
    with _provider(tmp_path / "s.sqlite", push) as p:
        with p.stream(NODE, "1s", _now() - 5) as bars:
            for _ in bars:
                break
        assert push.subscribers(NODE, "1s") == 0
        polled = p.stream(NODE, "1s", _now() - 5)
        p_feed = _provider(tmp_path / "t.sqlite", SyntheticLiveFeed(seed=SEED))
        with p_feed:
            s = p_feed.stream(NODE, "1s", _now() - 5)
            next(s)
            assert len(_poll_threads()) == len(before) + 1
            s.close()
            assert _wait_until(lambda: _poll_threads() == before)
        # A stream never closed by its reader is closed with its provider.
        next(polled)
        assert push.subscribers(NODE, "1s") == 1
    assert push.subscribers(NODE, "1s") == 0


def test_leaving_an_astream_closes_its_subscription(tmp_path: Path) -> None:
    before = _poll_threads()

    async def first_then_leave(p: SeamlessDataProvider) -> None:
        frames = p.astream(NODE, "1s", _now() - 5)
        async for _ in frames:
            break
        await frames.aclose()  # type: ignore[attr-defined]

    async def cancelled(p: SeamlessDataProvider) -> None:
        async def consume() -> None:
            async for _ in p.astream(NODE, "1s", _now() - 5):
                continue

        task = asyncio.create_task(consume())
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with _provider(tmp_path / "s.sqlite", SyntheticLiveFeed(seed=SEED, settle_s=0.02)) as p:
        asyncio.run(first_then_leave(p))
        assert _wait_until(lambda: _poll_threads() == before)
        asyncio.run(cancelled(p))
        assert _wait_until(lambda: _poll_threads() == before)


def test_forming_bars_stay_in_order_and_inside_the_end(tmp_path: Path) -> None:
    syn = SyntheticFetcher(seed=SEED)
    feed = PushLiveFeed()
    time.sleep(int(time.time()) + 1.05 - time.time())
    now = _now()
    end = now + 2

    def pusher() -> None:
        _wait_until(lambda: feed.subscribers(NODE, "1s") > 0)
        time.sleep(max(0.0, end + 0.1 - time.time()))
        # A snapshot of the bar at end (outside the stream), then a forming bar
        # whose predecessors have not closed yet, then the closes.
        feed.push(NODE, "1s", syn.fetch(NODE, "1s", end, end + 1), partial=True)
        feed.push(NODE, "1s", syn.fetch(NODE, "1s", end - 1, end), partial=True)
        feed.push(NODE, "1s", syn.fetch(NODE, "1s", now, end))

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    with _provider(tmp_path / "s.sqlite", feed) as p:
        frames = list(p.stream(NODE, "1s", now - 2, end=end, include_partial=True))
    thread.join(5)
    secs = np.concatenate([_seconds(f) for f in frames])
    assert secs.max() < end
    assert (np.diff(secs) > 0).all(), secs - now
    _assert_series(frames, now - 2, end)


def test_a_partial_history_is_completed_before_the_live_bars(tmp_path: Path) -> None:
    # SEAMLESS detaches a gap longer than max_sync_gap_bars and answers partial;
    # the stream used to hand out only the part it got and move on.
    from seamless_sdk import SLAPolicy

    start = _now() - 300
    end = _now() + 2
    live = SyntheticLiveFeed(seed=SEED, settle_s=0.02)
    with _provider(tmp_path / "s.sqlite", live, sla=SLAPolicy(max_sync_gap_bars=60)) as p:
        frames = list(p.stream(NODE, "1s", start, end=end))
    _assert_series(frames, start, end)


def test_a_quiet_feed_does_not_keep_a_stream_past_its_end(tmp_path: Path) -> None:
    from seamless_sdk.streaming import END_GRACE_S

    start = _now() - 3
    end = _now() + 2
    with _provider(tmp_path / "s.sqlite", PushLiveFeed()) as p:
        frames = list(p.stream(NODE, "1s", start, end=end))
        assert time.time() < end + END_GRACE_S + 2
    whole = _assert_series(frames, start, end)
    assert set(whole["source"]) == {"backfill"}
