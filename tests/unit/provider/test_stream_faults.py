"""``provider.stream`` against feeds that misbehave: refused and instantly
ending subscriptions, forming bars that never close, rejected live bars,
bad pushes, and a stream dropped without ``close()``.

Real time with 1s bars, like ``test_stream.py`` (whose helpers these use).
"""

from __future__ import annotations

import gc
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
    SyntheticFetcher,
    SyntheticLiveFeed,
)
from seamless_sdk.intervals import parse_interval
from seamless_sdk.live.base import LiveBars, Subscription
from seamless_sdk.streaming import END_GRACE_S, RESUBSCRIBE_BACKOFF_S

from .test_stream import NODE, SEED, _assert_series, _now, _provider, _seconds, _wait_until

S1 = parse_interval("1s")


class RefusingFeed:
    """A feed whose ``subscribe`` raises (the upstream refuses connections)."""

    def __init__(self) -> None:
        self.calls = 0

    def subscribe(self, node_id: str, interval: Any) -> Subscription:
        self.calls += 1
        raise ConnectionError("connection refused")


class EndingFeed:
    """A feed whose subscriptions end at once ("connect failed" as an event)."""

    def __init__(self) -> None:
        self.calls = 0

    def subscribe(self, node_id: str, interval: Any) -> Subscription:
        self.calls += 1
        sub = Subscription(node_id, parse_interval(interval))
        sub.end("connect failed")
        return sub


def test_a_feed_that_refuses_every_subscription_still_streams_and_ends(tmp_path: Path) -> None:
    # _subscribe used to retry forever before the history read: the consumer
    # got nothing, not even the history, and the stream never reached its end.
    start, end = _now() - 5, _now() + 2
    feed = RefusingFeed()
    with _provider(tmp_path / "s.sqlite", feed) as p:
        frames = list(p.stream(NODE, "1s", start, end=end))
        assert time.time() < end + END_GRACE_S + max(RESUBSCRIBE_BACKOFF_S) + 1
    whole = _assert_series(frames, start, end)
    assert set(whole["source"]) == {"backfill"}
    assert 1 < feed.calls < 10  # retried, with back-off


def test_subscriptions_that_end_at_once_are_retried_with_back_off(tmp_path: Path) -> None:
    # A subscription that ended before delivering anything was retried at once,
    # some 100,000 times a second.
    feed = EndingFeed()
    with _provider(tmp_path / "s.sqlite", feed) as p:
        stream = p.stream(NODE, "1s", _now() - 3)
        next(stream)
        threading.Timer(3.0, stream.close).start()
        frames = list(stream)
    assert feed.calls < 8, feed.calls
    assert len(frames) >= 1  # meanwhile the bars came from history


def test_forming_bars_without_closes_do_not_keep_a_stream_past_its_end(tmp_path: Path) -> None:
    # The end grace was only checked when no event came within a poll.
    feed = PushLiveFeed()
    start, end = _now() - 2, _now() + 2
    stop = threading.Event()

    def chatter() -> None:
        syn = SyntheticFetcher(seed=SEED)
        while not stop.wait(0.1):
            t = _now()
            feed.push(NODE, "1s", syn.fetch(NODE, "1s", t, t + 1), partial=True)

    thread = threading.Thread(target=chatter, daemon=True)
    thread.start()
    try:
        with _provider(tmp_path / "s.sqlite", feed) as p:
            frames = list(p.stream(NODE, "1s", start, end=end))
            assert time.time() < end + END_GRACE_S + 1.5
    finally:
        stop.set()
        thread.join(5)
    _assert_series(frames, start, end)


def test_include_partial_flags_the_forming_bar_without_asking_for_lineage(
    tmp_path: Path,
) -> None:
    feed = SyntheticLiveFeed(seed=SEED, settle_s=0.02, partial_every_s=0.3)
    start, end = _now() - 3, _now() + 2
    plain = SeamlessDataProvider(
        LocalStore(tmp_path / "s.sqlite"),
        SyntheticFetcher(seed=SEED),
        live=feed,
        registry=CollectorRegistry(),
    )
    with plain as p:
        assert "flags" not in p.read(NODE, "1s", start - 10, start).df.columns
        frames = list(p.stream(NODE, "1s", start, end=end, include_partial=True))
        with pytest.raises(InvalidRequestError, match=r"^include_partial: needs lineage"):
            p.stream(NODE, "1s", start, end=end, include_partial=True, lineage=False)
        with pytest.raises(InvalidRequestError, match=r"^include_partial"):
            p.stream(NODE, "1s", start, end=end, include_partial="no")  # type: ignore[arg-type]
    assert all("flags" in f.columns for f in frames)
    closed = [f for f in frames if not (f["flags"] & int(Flag.PARTIAL_BAR)).any()]
    assert any((f["flags"] & int(Flag.PARTIAL_BAR)).any() for f in frames)
    _assert_series(closed, start, end)


def test_a_live_bar_that_conformance_rejects_is_backfilled_not_skipped(tmp_path: Path) -> None:
    # With partial_ok the rejected bar stayed uncovered (right) but the stream
    # moved past it, so that bar never reached the consumer.
    feed = PushLiveFeed()
    time.sleep(int(time.time()) + 1.05 - time.time())
    now = _now()
    start, end = now - 3, now + 3
    syn = SyntheticFetcher(seed=SEED)

    def pusher() -> None:
        _wait_until(lambda: feed.subscribers(NODE, "1s") > 0)
        time.sleep(max(0.0, end + 0.05 - time.time()))
        bars = syn.fetch(NODE, "1s", now, end)
        bars.loc[1, "close"] = np.nan  # one bad bar amid good ones
        feed.push(NODE, "1s", bars, start=now, end=end)

    thread = threading.Thread(target=pusher, daemon=True)
    thread.start()
    with _provider(tmp_path / "s.sqlite", feed, partial_ok=True) as p:
        frames = list(p.stream(NODE, "1s", start, end=end))
        assert p.coverage(NODE, "1s").covers(start, end)
    thread.join(5)
    whole = _assert_series(frames, start, end)
    bad = whole[_seconds(whole) == now + 1]
    assert bad["source"].tolist() == ["backfill"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": pd.Timestamp("2026-01-01T00:00:00.5Z")}, "start"),
        ({"start": "soon"}, "start"),
        ({"end": 1_800_000_000.5}, "end"),
        ({"start": 1_800_000_060, "end": 1_800_000_000}, "end"),
        ({"partial": "yes"}, "partial"),
    ],
)
def test_a_bad_push_is_refused_where_it_is_pushed(kwargs: dict[str, Any], field: str) -> None:
    # It was accepted, and the stream reading it died later on a raw TypeError.
    feed = PushLiveFeed()
    sub = feed.subscribe(NODE, "1m")
    frame = SyntheticFetcher(seed=SEED).fetch(NODE, "1m", 1_800_000_000, 1_800_000_060)
    with pytest.raises(InvalidRequestError) as info:
        feed.push(NODE, "1m", frame, **kwargs)
    assert info.value.field == field
    assert sub.pending() == 0
    assert feed.push(NODE, "1m", frame, start=pd.Timestamp(1_800_000_000, unit="s", tz="UTC")) == 1


@pytest.mark.parametrize("bad", [1.5, "60", True, pd.Timestamp(0, unit="s", tz="UTC")])
def test_a_feed_event_with_bad_bounds_is_refused_when_made(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^start: "):
        LiveBars(pd.DataFrame(), start=bad)
    assert LiveBars(pd.DataFrame(), start=np.int64(60)).start == 60


def test_a_stream_left_by_break_closes_its_subscription_without_gc(tmp_path: Path) -> None:
    # The stream and its generator referred to each other: leaving a plain
    # for loop kept the subscription (and a poller's thread) alive until the
    # garbage collector ran.
    push = PushLiveFeed()
    gc.disable()
    try:
        with _provider(tmp_path / "s.sqlite", push) as p:
            for _ in p.stream(NODE, "1s", _now() - 5):
                break
            assert push.subscribers(NODE, "1s") == 0
    finally:
        gc.enable()
