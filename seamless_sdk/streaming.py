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

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from seamless_sdk.backfill.fill import FillResult, fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import Flag, conform_bars
from seamless_sdk.frames import assemble
from seamless_sdk.intervals import Interval
from seamless_sdk.live.base import LiveBars, LiveFeed, LiveGap, Subscription
from seamless_sdk.ranges import RangeSet
from seamless_sdk.result import HistoryResult
from seamless_sdk.stores.base import BarStore, read_covered
from seamless_sdk.strategy import Source, Strategy

RESUBSCRIBE_BACKOFF_S = (0.0, 0.1, 0.5, 2.0, 5.0)
"""Waits before subscribing again, by failures in a row: none after a
subscription that delivered events and then ended (a gap to fill at once),
then longer after each refused subscription or one that ended before it
delivered anything (the last wait repeats)."""

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


def _backoff(failures: int) -> float:
    return RESUBSCRIBE_BACKOFF_S[min(failures, len(RESUBSCRIBE_BACKOFF_S) - 1)]


class BarStream:
    """An iterator of DataFrames: history, then live bars as they close.

    ``poll_s`` is how often a waiting stream checks whether it was closed.
    The stream is a handle on its walk (:class:`_Walk`), which never refers
    back to it: a stream dropped without ``close()`` (a ``for`` loop left with
    ``break``) is freed at once, and freeing its generator closes the live
    subscription then, not when the garbage collector gets to a cycle.
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
        self._walk = _Walk(parts, node_id, interval, start, end, include_partial, poll_s)
        self._frames = self._walk.run()

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
        self._walk.stop()
        try:
            self._frames.close()
        except ValueError:
            # Running in another thread (an astream step): it sees the stop
            # within poll_s; the subscription is closed already.
            return

    @property
    def closed(self) -> bool:
        return self._walk.stopped

    @property
    def parts(self) -> StreamParts:
        return self._walk.parts

    @property
    def node_id(self) -> str:
        return self._walk.node_id

    @property
    def interval(self) -> Interval:
        return self._walk.interval

    @property
    def last(self) -> int:
        """The end of what has been handed out (only grows)."""
        return self._walk.last

    @property
    def resubscriptions(self) -> int:
        """Subscriptions made after the first (the feed ended or refused one)."""
        return self._walk.resubscriptions


class _Walk:
    """A stream's state and the walk that makes its frames (see the module docstring)."""

    def __init__(
        self,
        parts: StreamParts,
        node_id: str,
        interval: Interval,
        start: int,
        end: int | None,
        include_partial: bool,
        poll_s: float,
    ) -> None:
        self.parts = parts
        self.node_id = node_id
        self.interval = interval
        self.end = end
        self.include_partial = include_partial
        self.poll_s = poll_s
        self.last = start
        self.resubscriptions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sub: Subscription | None = None  # the live subscription, while there is one

    def stop(self) -> None:
        """Stop the walk and close its subscription (from any thread)."""
        self._stop.set()
        self._release()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the walk ----------------------------------------------------------------
    def _edge(self) -> int:
        edge = self.interval.now_edge(self.parts.clock())
        return edge if self.end is None else min(edge, self.end)

    def _done(self) -> bool:
        return self._stop.is_set() or (self.end is not None and self.last >= self.end)

    def run(self) -> Iterator[pd.DataFrame]:
        """The stream's frames (a generator: closing it closes the subscription)."""
        needs_feed = self.end is None or self.end > self.interval.now_edge(self.parts.clock())
        sub = self._subscribe() if needs_feed else None
        failures = 0 if sub is not None or not needs_feed else 1
        delivered = False
        try:
            yield from self._history(self._edge(), strategy=None)
            while needs_feed and not self._done():
                if sub is None:
                    # No subscription (the feed refused one, or it ended): try
                    # again after a back-off that grows with each failure in a
                    # row, so a feed that keeps failing is not hammered.
                    if self._stop.wait(_backoff(failures)):
                        return
                    sub = self._subscribe()
                    if sub is None:
                        failures += 1
                    else:
                        self.resubscriptions += 1
                        delivered = False
                    # Subscribed or not, history answers what closed meanwhile
                    # (backfilled through the fetcher) and, past ``end``, the rest.
                    until = self.end if self._past_end() else self._edge()
                    yield from self._history(until, strategy=Strategy.AUTO_BACKFILL)  # type: ignore[arg-type]
                    continue
                if self._past_end():
                    # The feed has said nothing for the last bars (or only
                    # forming ones): history answers them.
                    yield from self._history(self.end, strategy=Strategy.AUTO_BACKFILL)  # type: ignore[arg-type]
                    continue
                event = sub.get(self.poll_s)
                if event is None:
                    if not sub.closed or self._stop.is_set():
                        continue
                    event = LiveGap("subscription closed")  # ended without a gap event
                if isinstance(event, LiveGap):
                    self._release()
                    sub = None
                    # A subscription that ended before it delivered anything
                    # counts as a failure: it waits before the next one.
                    failures = 0 if delivered else failures + 1
                    continue
                delivered = True
                failures = 0
                if event.partial:
                    if self.include_partial:
                        yield from self._forming(event)
                else:
                    yield from self._closed(event)
        except Exception:
            if self._stop.is_set():
                return  # closed (or its provider was) mid-read: what failed was the shutdown
            raise
        finally:
            self._release()

    def _past_end(self) -> bool:
        return self.end is not None and self.parts.clock() >= self.end + END_GRACE_S

    def _subscribe(self) -> Subscription | None:
        """One attempt at a subscription; None if the feed refused it or the
        stream was closed meanwhile."""
        if self._stop.is_set():
            return None
        try:
            sub = self.parts.feed.subscribe(self.node_id, self.interval)
        except Exception:  # a feed may fail any way while reconnecting; _run retries
            return None
        with self._lock:
            if not self._stop.is_set():
                self._sub = sub
                return sub
        sub.close()  # closed while subscribing: close() found nothing to close
        return None

    def _release(self) -> None:
        """Close the live subscription, if any (from any thread, any number of times)."""
        with self._lock:
            sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()

    def _history(self, until: int, strategy: Strategy | None) -> Iterator[pd.DataFrame]:
        """Bars of ``[last, until)`` through the provider's read (a gap: AUTO_BACKFILL)."""
        if until <= self.last or self._stop.is_set():
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
        # Handed out as stored (what a later read returns), up to the first bar
        # the fill did not cover: one conformance rejected (partial_ok) comes
        # from history with what follows it, so no bar is skipped.
        got = read_covered(self.parts.store, self.node_id, self.interval, start, upto)
        hole = RangeSet.span(start, upto).subtract(got.coverage)
        self.last = upto if not hole else hole.start  # type: ignore[assignment]
        bars = got.bars.rows_in(RangeSet.span(start, self.last)) if hole else got.bars
        if len(bars):
            yield assemble(bars, [(Source.LIVE.value, bars)], lineage=self.parts.lineage)
        if hole:
            yield from self._history(upto, strategy=Strategy.AUTO_BACKFILL)

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


class _Frame:
    """A fetcher that answers with one frame the feed delivered (the fill's
    conformance drops its rows outside each window it asks for)."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> Any:
        return self.frame
