"""A live feed that polls a fetcher-shaped source once per bar.

Each subscription has a thread that sleeps until the next bar boundary plus
``settle_s`` (time for the source to publish the bar that just closed), then
fetches the bars closed since its last poll. The sleep is computed in seconds
from the clock at every wake-up, so it neither drifts nor confuses units (the
predecessor slept milliseconds as seconds). With ``partial_every_s`` it also
polls the bar still forming between boundaries.

>>> # feed = PollingLiveFeed(my_rest_fetcher, settle_s=0.5)
>>> # provider = SeamlessDataProvider(store, my_rest_fetcher, live=feed)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import pandas as pd

from seamless_sdk.backfill.fill import call_fetcher
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.live.base import DEFAULT_QUEUE_EVENTS, LiveBars, LiveGap, Subscription
from seamless_sdk.request import describe, validate_node_id


class PollingLiveFeed:
    """Polls ``source.fetch(node_id, interval, start, end)`` at every bar boundary.

    ``wakeups`` keeps the clock time of the latest polls (for monitoring and
    tests: each is a boundary plus ``settle_s``, give or take the scheduler).
    """

    def __init__(
        self,
        source: Any,
        *,
        settle_s: float = 0.25,
        partial_every_s: float | None = None,
        clock: Callable[[], float] = time.time,
        maxsize: int = DEFAULT_QUEUE_EVENTS,
    ) -> None:
        if not callable(getattr(source, "fetch", None)):
            raise InvalidRequestError("source", f"{source!r} has no fetch() method")
        if not 0 <= settle_s < 3600:
            raise InvalidRequestError("settle_s", f"{settle_s!r} is not in [0, 3600) seconds")
        if partial_every_s is not None and not partial_every_s > 0:
            raise InvalidRequestError("partial_every_s", f"{partial_every_s!r} is not positive")
        self.source = source
        self.settle_s = float(settle_s)
        self.partial_every_s = partial_every_s
        self._clock = clock
        self._maxsize = maxsize
        self.wakeups: deque[float] = deque(maxlen=256)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """The source's bars of ``[start, end)``: what a SEAMLESS read asks of ``live=``."""
        return call_fetcher(self.source, node_id, parse_interval(interval), start, end)  # type: ignore[no-any-return]

    def subscribe(self, node_id: str, interval: Interval | str) -> Subscription:
        """Start polling for ``(node_id, interval)``; stops when the subscription closes."""
        iv = parse_interval(interval)
        stop = threading.Event()
        sub = Subscription(
            validate_node_id(node_id), iv, maxsize=self._maxsize, on_close=lambda _: stop.set()
        )
        threading.Thread(
            target=self._poll, args=(sub, stop), name=f"seamless-poll-{node_id}", daemon=True
        ).start()
        return sub

    def _poll(self, sub: Subscription, stop: threading.Event) -> None:
        iv, bar = sub.interval, sub.interval.seconds
        last = iv.now_edge(self._clock())
        while not stop.is_set():
            now = self._clock()
            # The close after the last one polled, not the one after now: a
            # partial poll that sleeps past a boundary must not skip that close
            # (a wake-up in the past polls at once and catches up).
            closes = last + bar
            wake = closes + self.settle_s
            partial_at = None if self.partial_every_s is None else now + self.partial_every_s
            if partial_at is not None and partial_at < closes:
                if not self._sleep_until(partial_at, stop):
                    return
                # Only the bar after the last close polled is forming: a later
                # one would reach the stream before the close of this one.
                if self._clock() < closes:
                    self._poll_forming(sub, last)
                continue
            if not self._sleep_until(wake, stop):
                return
            self.wakeups.append(self._clock())
            edge = iv.now_edge(self._clock())
            if edge <= last:
                continue
            try:
                frame = call_fetcher(self.source, sub.node_id, iv, last, edge)
            except Exception as exc:  # the source may raise anything: the stream refills the gap
                sub.put(LiveGap(f"poll of [{last}, {edge}) failed: {describe(exc)}"))
            else:
                sub.put(LiveBars(frame, last, edge))
            last = edge

    def _poll_forming(self, sub: Subscription, edge: int) -> None:
        end = edge + sub.interval.seconds
        try:
            frame = call_fetcher(self.source, sub.node_id, sub.interval, edge, end)
        except Exception:  # a failed snapshot of a forming bar loses nothing: the close follows
            return
        sub.put(LiveBars(frame, edge, end, partial=True))

    def _sleep_until(self, when: float, stop: threading.Event) -> bool:
        """Sleep until the clock reads ``when``; False if stopped first."""
        while True:
            remaining = when - self._clock()
            if remaining <= 0:
                return True
            # Re-read the clock after every wait: a wait may return early.
            if stop.wait(min(remaining, 1.0)):
                return False
