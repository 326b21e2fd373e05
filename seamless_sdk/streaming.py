"""From history to live without a seam: one stream of bars, each exactly once.

``BarStream`` subscribes to the live feed *first*, then reads the history up
to the now edge through the provider's normal read (every strategy and SLA
rule applies), then turns the feed's events into frames:

- closed bars are conformed and written to the store through the same fill
  path as a backfill (flag ``LIVE``), so coverage grows with time and a later
  read serves them from storage; the frame handed out is read back from the
  store, so it is exactly what a later read returns;
- a window the feed does not vouch for (it skipped ahead, disconnected, or the
  consumer fell behind and events were dropped) is read through the provider
  with AUTO_BACKFILL, i.e. backfilled through the fetcher, before the stream
  goes on; a feed that ended is subscribed to again;
- with ``include_partial`` the bar still forming is handed out flagged
  ``PARTIAL_BAR`` (never stored) and replaced later by the closed bar of the
  same ``ts``; only the bar right after what was handed out, inside the
  stream's ``[start, end)``, so ``ts`` never goes backwards but for that
  replacement;
- the history read follows the stream's strategy; when it answers partial (a
  gap SEAMLESS detached, a budget that ran out), the stream reads the same
  window again with AUTO_BACKFILL before it hands anything out: bars that a
  detached fill stores later could not be handed out in order any more;
- a stream with an ``end`` whose feed says nothing more once the clock is
  ``END_GRACE_S`` past ``end`` reads the rest from history and ends (a push
  feed that stays quiet never vouches for its last bars).

Closing a stream (``close()``, leaving its ``with`` block, ``aclose``/cancelling
``astream``, or closing its provider) closes its live subscription at once,
so no polling thread outlives it.

``last`` (the end of what has been handed out) only grows, and every frame
holds bars from ``last`` on, so a bar that closes while the history is read
arrives once: from the history or from the feed, never both.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from seamless_sdk.backfill.fill import FillResult, fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import Flag, conform_bars
from seamless_sdk.frames import Bars, assemble
from seamless_sdk.intervals import Interval
from seamless_sdk.live.base import LiveBars, LiveFeed, LiveGap, Subscription
from seamless_sdk.result import HistoryResult
from seamless_sdk.stores.base import BarStore
from seamless_sdk.strategy import Source, Strategy

RESUBSCRIBE_BACKOFF_S = (0.1, 0.5, 2.0, 5.0)
"""Waits between attempts to subscribe again after a feed ended (the last repeats)."""

END_GRACE_S = 2.0
"""How long past a stream's ``end`` it waits for the feed before reading the
bars the feed has not delivered from history."""


@dataclass(frozen=True, slots=True)
class StreamParts:
    """What a stream needs from its provider."""

    read: Callable[[int, int, Strategy | None], HistoryResult]
    store: BarStore
    feed: LiveFeed
    policy: FillPolicy
    lineage: bool
    clock: Callable[[], float]
    on_commit: Callable[[FillResult], None]


class BarStream:
    """An iterator of DataFrames: history, then live bars as they close.

    ``poll_s`` is how often a waiting stream checks whether it was closed.
    """

    def __init__(
        self,
        parts: StreamParts,
        node_id: str,
        interval: Interval,
        start: int,
        end: int | None,
        *,
        include_partial: bool = False,
        poll_s: float = 0.2,
    ) -> None:
        self.parts = parts
        self.node_id = node_id
        self.interval = interval
        self.start = start
        self.end = end
        self.include_partial = include_partial
        self.poll_s = poll_s
        self.last = start
        self.resubscriptions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sub: Subscription | None = None  # the live subscription, while there is one
        self._frames = self._run()

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self

    def __next__(self) -> pd.DataFrame:
        return next(self._frames)

    def __enter__(self) -> BarStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the stream and close its live subscription now (a ``next``
        waiting in another thread returns within ``poll_s``)."""
        self._stop.set()
        self._release()
        try:
            self._frames.close()
        except ValueError:
            # Running in another thread (an astream step): it sees the stop
            # within poll_s; the subscription is closed already.
            return

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # -- the walk ----------------------------------------------------------------
    def _edge(self) -> int:
        edge = self.interval.now_edge(self.parts.clock())
        return edge if self.end is None else min(edge, self.end)

    def _done(self) -> bool:
        return self._stop.is_set() or (self.end is not None and self.last >= self.end)

    def _run(self) -> Iterator[pd.DataFrame]:
        needs_feed = self.end is None or self.end > self.interval.now_edge(self.parts.clock())
        sub = self._subscribe() if needs_feed else None
        try:
            yield from self._history(self._edge(), strategy=None)
            while sub is not None and not self._done():
                event = sub.get(self.poll_s)
                if event is None:
                    if sub.closed and not self._stop.is_set():  # ended without a gap event
                        event = LiveGap("subscription closed")
                    elif self._past_end():
                        yield from self._history(self.end, strategy=Strategy.AUTO_BACKFILL)  # type: ignore[arg-type]
                        continue
                    else:
                        continue
                if isinstance(event, LiveGap):
                    self._release()
                    sub = self._subscribe()
                    if sub is None:
                        return
                    self.resubscriptions += 1
                    yield from self._history(self._edge(), strategy=Strategy.AUTO_BACKFILL)
                elif event.partial:
                    if self.include_partial:
                        yield from self._forming(event)
                else:
                    yield from self._closed(event)
        finally:
            self._release()

    def _past_end(self) -> bool:
        return self.end is not None and self.parts.clock() >= self.end + END_GRACE_S

    def _subscribe(self) -> Subscription | None:
        for attempt in itertools.count():
            if self._stop.is_set():
                return None
            try:
                sub = self.parts.feed.subscribe(self.node_id, self.interval)
            except Exception:  # a feed may fail any way while reconnecting; keep trying
                wait = RESUBSCRIBE_BACKOFF_S[min(attempt, len(RESUBSCRIBE_BACKOFF_S) - 1)]
                if self._stop.wait(wait):
                    return None
                continue
            with self._lock:
                if not self._stop.is_set():
                    self._sub = sub
                    return sub
            sub.close()  # closed while subscribing: close() found nothing to close
            return None
        raise AssertionError("unreachable: itertools.count() never ends")

    def _release(self) -> None:
        """Close the live subscription, if any (from any thread, any number of times)."""
        with self._lock:
            sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()

    def _history(self, until: int, strategy: Strategy | None) -> Iterator[pd.DataFrame]:
        """Bars of ``[last, until)`` through the provider's read (a gap: AUTO_BACKFILL)."""
        if until <= self.last:
            return
        result = self.parts.read(self.last, until, strategy)
        if result.meta.missing and strategy is not Strategy.AUTO_BACKFILL:
            # A partial answer: what it lacks must come now, before anything later.
            result = self.parts.read(self.last, until, Strategy.AUTO_BACKFILL)
        self.last = until
        if len(result.df):
            yield result.df

    def _closed(self, event: LiveBars) -> Iterator[pd.DataFrame]:
        vouched = self._vouched(event)
        if vouched is None:
            return
        vouched_from, vouched_to = vouched
        if vouched_from > self.last:
            # The feed does not vouch for [last, vouched_from): a disconnect, a
            # missed message or a quiet bar. History answers, backfilling if need be.
            yield from self._history(
                min(vouched_from, self._edge()), strategy=Strategy.AUTO_BACKFILL
            )
        upto = min(vouched_to, self._edge())
        if upto <= self.last:
            return
        start = self.last
        result = fill_window(
            self.parts.store,
            _Frame(event.frame),
            self.node_id,
            self.interval,
            start,
            upto,
            policy=self.parts.policy,
            now=self.parts.clock(),
            fingerprint=False,
        )
        if not result.skipped:
            self.parts.on_commit(result)
        self.last = upto
        bars = self._stored(start, upto)
        if len(bars):
            yield assemble(bars, [(Source.LIVE.value, bars)], lineage=self.parts.lineage)

    def _forming(self, event: LiveBars) -> Iterator[pd.DataFrame]:
        start = (
            event.start if event.start is not None else self.interval.now_edge(self.parts.clock())
        )
        if start != self.last or (self.end is not None and start >= self.end):
            # Not the bar after the last one handed out (its close has not come
            # yet), or past the stream's end: showing it would break the order.
            return
        end = start + self.interval.seconds
        conformed = conform_bars(
            event.frame,
            self.interval,
            start,
            end,
            flags=int(Flag.LIVE | Flag.PARTIAL_BAR),
            node_id=self.node_id,
        )
        if conformed.report.ok and conformed.rows:
            bars = conformed.stored_bars()
            yield assemble(bars, [(Source.LIVE.value, bars)], lineage=self.parts.lineage)

    def _vouched(self, event: LiveBars) -> tuple[int, int] | None:
        """The window an event vouches for: as it says, or else from its first bar
        to the end of its last closed bar (None: it holds no new closed bar)."""
        if event.start is not None and event.end is not None:
            return event.start, event.end
        edge = self.interval.now_edge(self.parts.clock())
        if edge <= self.last:
            return None
        conformed = conform_bars(event.frame, self.interval, self.last, edge, node_id=self.node_id)
        if not conformed.rows:
            return None
        secs = conformed.stored_bars().ts_seconds
        return (
            int(secs[0]) if event.start is None else event.start,
            int(secs[-1]) + self.interval.seconds if event.end is None else event.end,
        )

    def _stored(self, start: int, end: int) -> Bars:
        store = self.parts.store
        read_bars = getattr(store, "read_bars", None)
        if read_bars is not None:
            return read_bars(self.node_id, self.interval, start, end)  # type: ignore[no-any-return]
        return Bars.from_frame(store.read(self.node_id, self.interval, start, end))


class _Frame:
    """A fetcher that answers with one frame the feed delivered (the fill's
    conformance drops its rows outside each window it asks for)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> Any:
        return self.frame
