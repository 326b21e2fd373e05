"""A live feed fed from outside: a websocket client (or any callback) pushes bars.

>>> # feed = PushLiveFeed()
>>> # on_message = lambda msg: feed.push("demo:BTCUSDT", "1m", frame_from(msg))
>>> # provider = SeamlessDataProvider(store, fetcher, live=feed)
"""

from __future__ import annotations

import threading

import pandas as pd

from seamless_sdk.checks import check_bool
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.live.base import DEFAULT_QUEUE_EVENTS, LiveBars, Subscription
from seamless_sdk.request import aligned_seconds, check_order, validate_node_id


class PushLiveFeed:
    """Bars pushed by the caller, fanned out to every subscription of their series."""

    def __init__(self, *, maxsize: int = DEFAULT_QUEUE_EVENTS) -> None:
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._subs: dict[tuple[str, int], list[Subscription]] = {}

    def subscribe(self, node_id: str, interval: Interval | str) -> Subscription:
        """A subscription that receives every push of ``(node_id, interval)`` from now on."""
        iv = parse_interval(interval)
        key = (validate_node_id(node_id), iv.seconds)
        sub = Subscription(key[0], iv, maxsize=self._maxsize, on_close=self._forget)
        with self._lock:
            self._subs.setdefault(key, []).append(sub)
        return sub

    def push(
        self,
        node_id: str,
        interval: Interval | str,
        frame: pd.DataFrame,
        *,
        start: int | None = None,
        end: int | None = None,
        partial: bool = False,
    ) -> int:
        """Deliver bars (see ``LiveBars`` for ``start``/``end``/``partial``); returns
        how many subscriptions got them.

        ``start``/``end`` take any time a read takes and must be aligned to
        ``interval``, ``start <= end``: a bad one is ``InvalidRequestError``
        naming it here, where it was pushed, not in the stream that reads it.
        """
        iv = parse_interval(interval)
        lo = None if start is None else aligned_seconds(iv, start, "start")
        hi = None if end is None else aligned_seconds(iv, end, "end")
        if lo is not None and hi is not None:
            check_order(lo, hi)
        event = LiveBars(frame, lo, hi, check_bool("partial", partial))
        for sub in self._targets(node_id, interval):
            sub.put(event)
        return len(self._targets(node_id, interval))

    def disconnect(self, reason: str = "feed disconnected") -> None:
        """The upstream connection dropped: every subscription ends with a gap."""
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            sub.end(reason)

    def subscribers(self, node_id: str, interval: Interval | str) -> int:
        return len(self._targets(node_id, interval))

    def _targets(self, node_id: str, interval: Interval | str) -> list[Subscription]:
        key = (validate_node_id(node_id), parse_interval(interval).seconds)
        with self._lock:
            return list(self._subs.get(key, ()))

    def _forget(self, sub: Subscription) -> None:
        with self._lock:
            group = self._subs.get((sub.node_id, sub.interval.seconds), [])
            if sub in group:
                group.remove(sub)
