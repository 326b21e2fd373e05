"""What a live feed hands a stream: bars as they close, and word of a gap.

A feed delivers :class:`LiveBars` (the bars it vouches for over ``[start,
end)``: every bar of that window that exists, so a minute without trades is
simply absent) and :class:`LiveGap` (bars may have been lost: the feed
disconnected, a poll failed, or the consumer fell behind). A stream answers a
gap by reading the missing range through the provider, which backfills it
through the fetcher.

Each subscription is a bounded queue (``maxsize`` events). A consumer slower
than the feed never grows it past that: on overflow the queued events are
dropped and replaced by one ``LiveGap``, so memory stays bounded and the lost
bars come back through the history read instead.
"""

from __future__ import annotations

import numbers
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval

DEFAULT_QUEUE_EVENTS = 1024


@dataclass(frozen=True, slots=True)
class LiveBars:
    """Bars from a feed.

    ``frame`` holds bar rows (``ts open high low close volume``, messy input is
    conformed by the stream). ``start``/``end`` is the window the feed vouches
    for: every bar of it that exists is in ``frame``. ``start=None`` means from
    the first bar in ``frame`` and ``end=None`` up to the end of its last bar, so
    a push of single bars vouches for nothing between them: a bar that did not
    come is read from history (backfilled through the fetcher) rather than
    taken for a bar without trades. ``partial=True`` marks a snapshot of the bar
    still forming: shown with ``include_partial=True``, never stored, replaced by
    the closed bar later.
    """

    frame: pd.DataFrame
    start: int | None = None
    end: int | None = None
    partial: bool = False

    def __post_init__(self) -> None:
        # A feed's own event is checked when made, not when a stream meets it.
        for field, value in (("start", self.start), ("end", self.end)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise InvalidRequestError(field, f"{value!r} is not epoch seconds (an int)")
            object.__setattr__(self, field, int(value))  # numpy ints compare as ints
        if not isinstance(self.partial, bool):
            raise InvalidRequestError("partial", f"{self.partial!r} is not True or False")


@dataclass(frozen=True, slots=True)
class LiveGap:
    """Bars may have been lost since the previous event; ``reason`` says why."""

    reason: str


LiveEvent = LiveBars | LiveGap


class Subscription:
    """A bounded queue of one feed's events for one node and interval.

    The feed calls :meth:`put`; the stream calls :meth:`get` and :meth:`close`.
    """

    def __init__(
        self,
        node_id: str,
        interval: Interval,
        *,
        maxsize: int = DEFAULT_QUEUE_EVENTS,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self.node_id = node_id
        self.interval = interval
        self.maxsize = maxsize
        self._events: deque[LiveEvent] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._on_close = on_close
        self.dropped = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: LiveEvent) -> None:
        """Queue an event; on overflow drop what is queued and queue one gap."""
        with self._cond:
            if self._closed:
                return
            if len(self._events) >= self.maxsize:
                self.dropped += len(self._events)
                self._events.clear()
                event = LiveGap(f"consumer fell behind: {self.dropped} event(s) dropped")
            self._events.append(event)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> LiveEvent | None:
        """The next event, or None if none came within ``timeout`` or it is closed."""
        with self._cond:
            if not self._events and not self._closed:
                self._cond.wait(timeout)
            return self._events.popleft() if self._events else None

    def end(self, reason: str) -> None:
        """The feed lost this subscription: queue a gap and close it (the stream
        subscribes again)."""
        with self._cond:
            if self._closed:
                return
            self._events.append(LiveGap(reason))
            self._closed = True
            self._cond.notify_all()
        if self._on_close is not None:
            self._on_close(self)

    def close(self) -> None:
        """Stop receiving; queued events are dropped."""
        with self._cond:
            already = self._closed
            self._closed = True
            self._events.clear()
            self._cond.notify_all()
        if not already and self._on_close is not None:
            self._on_close(self)

    def pending(self) -> int:
        with self._cond:
            return len(self._events)


@runtime_checkable
class LiveFeed(Protocol):
    """Anything that delivers bars of a node and interval as they close."""

    def subscribe(self, node_id: str, interval: Interval) -> Subscription:
        """A new subscription; events start with the bars closing after this call."""
        ...
