"""Live feeds: the poller wakes at bar boundaries, pushes fan out, queues stay bounded."""

from __future__ import annotations

import itertools
import time

import pandas as pd
import pytest

from seamless_sdk import InvalidRequestError, PushLiveFeed, SyntheticFetcher, SyntheticLiveFeed
from seamless_sdk.intervals import parse_interval
from seamless_sdk.live import LiveBars, LiveGap, PollingLiveFeed

S1 = parse_interval("1s")


def test_the_poller_wakes_at_each_boundary_plus_the_settle_delay() -> None:
    feed = SyntheticLiveFeed(seed=1, settle_s=0.05)
    sub = feed.subscribe("demo:P", S1)
    try:
        events = [sub.get(3.0) for _ in range(3)]
    finally:
        sub.close()
    assert all(isinstance(e, LiveBars) for e in events)
    assert len(feed.wakeups) >= 3
    for wake in list(feed.wakeups)[:3]:
        # 50 ms after a whole second, give or take the scheduler of a busy machine.
        assert 0.04 <= wake % 1.0 <= 0.12, wake % 1.0
    # Each poll vouches for the bars closed since the previous one, without gaps.
    windows = [(e.start, e.end) for e in events]  # type: ignore[union-attr]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))


@pytest.mark.parametrize(("settle_s", "partial_every_s"), [(0.25, 0.5), (0.25, 1.0), (0.05, 0.3)])
def test_partial_polls_never_skip_a_close(settle_s: float, partial_every_s: float) -> None:
    # A partial poll that sleeps across a boundary once moved the next close
    # poll a bar later, every bar when settle_s >= partial_every_s.
    feed = SyntheticLiveFeed(seed=1, settle_s=settle_s, partial_every_s=partial_every_s)
    sub = feed.subscribe("demo:F", S1)
    events: list[LiveBars] = []
    try:
        deadline = time.monotonic() + 3.6
        while time.monotonic() < deadline:
            event = sub.get(0.1)
            if isinstance(event, LiveBars):
                events.append(event)
    finally:
        sub.close()
    closed = [e for e in events if not e.partial]
    assert len(closed) >= 2, [(e.start, e.end, e.partial) for e in events]
    assert all(a.end == b.start for a, b in itertools.pairwise(closed))
    # A forming bar is always the one after the last close handed out, so the
    # consumer never sees a bar before the close of the one ahead of it.
    done = events[0].start
    for e in events:
        if e.partial:
            assert e.start == done, (e.start, done)
        else:
            assert e.start == done
            done = e.end


def test_polled_bars_equal_the_synthetic_fetchers() -> None:
    feed = SyntheticLiveFeed(seed=9, settle_s=0.02)
    sub = feed.subscribe("demo:Q", "1s")
    try:
        event = sub.get(3.0)
    finally:
        sub.close()
    assert isinstance(event, LiveBars)
    expected = SyntheticFetcher(seed=9).generate("demo:Q", "1s", event.start, event.end)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(event.frame.reset_index(drop=True), expected)


def test_a_failed_poll_is_a_gap() -> None:
    class Broken:
        def fetch(self, *args: object) -> pd.DataFrame:
            raise ConnectionError("down")

    sub = PollingLiveFeed(Broken(), settle_s=0.01).subscribe("demo:B", "1s")
    try:
        event = sub.get(3.0)
    finally:
        sub.close()
    assert isinstance(event, LiveGap)
    assert "down" in event.reason


def test_pushes_reach_every_subscriber_of_the_series() -> None:
    feed = PushLiveFeed()
    a, b, other = (
        feed.subscribe("demo:A", "1m"),
        feed.subscribe("demo:A", "1m"),
        feed.subscribe("demo:B", "1m"),
    )
    frame = SyntheticFetcher(seed=1).generate("demo:A", "1m", 0, 120)
    assert feed.push("demo:A", "1m", frame) == 2
    assert isinstance(a.get(0.1), LiveBars) and isinstance(b.get(0.1), LiveBars)
    assert other.get(0.01) is None
    a.close()
    assert feed.subscribers("demo:A", "1m") == 1


def test_a_disconnect_ends_every_subscription_with_a_gap() -> None:
    feed = PushLiveFeed()
    sub = feed.subscribe("demo:A", "1m")
    feed.disconnect("socket closed")
    event = sub.get(0.1)
    assert isinstance(event, LiveGap) and event.reason == "socket closed"
    assert sub.closed
    assert feed.subscribers("demo:A", "1m") == 0


def test_a_slow_consumer_is_bounded_in_memory() -> None:
    feed = PushLiveFeed(maxsize=4)
    sub = feed.subscribe("demo:A", "1s")
    frame = SyntheticFetcher(seed=1).generate("demo:A", "1s", 0, 1)
    for _ in range(100):
        feed.push("demo:A", "1s", frame)
    assert sub.pending() <= 4
    events = [sub.get(0) for _ in range(sub.pending())]
    assert any(isinstance(e, LiveGap) and "fell behind" in e.reason for e in events)


def test_bad_feed_settings_name_the_field() -> None:
    with pytest.raises(InvalidRequestError, match=r"^settle_s"):
        SyntheticLiveFeed(settle_s=-1)
    with pytest.raises(InvalidRequestError, match=r"^source"):
        PollingLiveFeed(object())
    with pytest.raises(InvalidRequestError, match=r"^node_id"):
        PushLiveFeed().subscribe("bad id", "1m")


def test_the_poller_stops_when_the_subscription_closes() -> None:
    import threading

    before = threading.active_count()
    sub = SyntheticLiveFeed(seed=1).subscribe("demo:C", "1m")
    assert threading.active_count() == before + 1
    sub.close()
    deadline = time.monotonic() + 3
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before
