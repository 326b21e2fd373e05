"""A drop-in for the predecessor's history provider (seed 001, "gradual migration").

Code written against QMTL's ``HistoryProvider`` calls::

    await provider.fill_missing(start, end, node_id=..., interval=...)
    await provider.ensure_range(start, end, node_id=..., interval=...)
    data = await provider.fetch(start, end, node_id=..., interval=...)
    ranges = await provider.coverage(node_id=..., interval=...)
    provider.bind_stream(stream)

``HistoryProviderAdapter`` answers those calls from a ``SeamlessDataProvider``,
so such code runs unchanged, and ``fetch`` backfills by itself. A fetcher
written for the predecessor (``await fetch(start, end, *, node_id, interval)``,
``interval`` in seconds) becomes a Seamless fetcher with
``PredecessorFetcher(fetcher)``. What differs from the predecessor, on purpose:

- ``interval`` may be int seconds (the predecessor's form) or ``"1m"``;
- ranges are half-open: ``fetch(start, end)`` returns bars with
  ``start <= ts < end`` and ``fill_missing``/``ensure_range`` fill
  ``[start, end)`` (the predecessor's were closed); ``coverage`` returns *closed* ranges
  ``(first_bar_ts, last_bar_ts)`` as the predecessor did, i.e. our
  ``(start, end)`` becomes ``(start, end - interval)``;
- ``ts`` in the frame is int epoch seconds (the predecessor's form) unless
  ``ts="datetime"`` asks for ``datetime64[ns, UTC]``;
- a window that was fetched and had no trades counts as covered.

>>> # legacy = HistoryProviderAdapter(SeamlessDataProvider(LocalStore(path), fetcher))
>>> # frame = await legacy.fetch(1_700_000_000, 1_700_003_600, node_id="demo:A", interval=60)
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

import numpy as np
import pandas as pd

from seamless_sdk.bars import epoch_seconds
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.provider import SeamlessDataProvider
from seamless_sdk.strategy import Strategy


class HistoryProviderAdapter:
    """The predecessor's history-provider shape over a ``SeamlessDataProvider``.

    ``strategy`` is what ``fetch`` uses (AUTO_BACKFILL: complete or raise,
    like the predecessor's fetch after ``fill_missing``).
    """

    def __init__(
        self,
        provider: SeamlessDataProvider,
        *,
        strategy: Strategy | str = Strategy.AUTO_BACKFILL,
        ts: Literal["seconds", "datetime"] = "seconds",
    ) -> None:
        if ts not in ("seconds", "datetime"):
            raise InvalidRequestError("ts", f"{ts!r} is not 'seconds' or 'datetime'")
        self.provider = provider
        self.strategy = Strategy.parse(strategy)
        self.ts = ts

    async def fetch(
        self, start: int, end: int, *, node_id: str, interval: int | str
    ) -> pd.DataFrame:
        """Bars of ``[start, end)``, backfilled first where missing."""
        frame = await self.provider.aread(
            node_id, _interval(interval), start, end, strategy=self.strategy, return_meta=False
        )
        assert isinstance(frame, pd.DataFrame)
        if self.ts == "seconds":
            frame = frame.assign(ts=epoch_seconds(frame["ts"]))
        return frame

    async def coverage(self, *, node_id: str, interval: int | str) -> list[tuple[int, int]]:
        """Covered ranges as the predecessor returned them: closed, first to last bar."""
        iv = _interval(interval)
        ranges = self.provider.coverage(node_id, iv.name)
        return [(s, e - iv.seconds) for s, e in ranges]

    async def fill_missing(
        self, start: int, end: int, *, node_id: str, interval: int | str
    ) -> None:
        """Backfill whatever of ``[start, end)`` is not covered yet."""
        await self.provider.aensure_available(
            node_id, _interval(interval), start, end, strategy=Strategy.AUTO_BACKFILL
        )

    async def ensure_range(
        self, start: int, end: int, *, node_id: str, interval: int | str
    ) -> None:
        """The predecessor's other name for :meth:`fill_missing` (its base class
        declares both): ``[start, end)`` is covered when it returns."""
        await self.fill_missing(start, end, node_id=node_id, interval=interval)

    def bind_stream(self, stream: Any) -> None:
        """Note the stream this provider serves, as the predecessor's base class
        did (``_stream_id`` = ``stream.node_id``); reads name their node anyway."""
        self._stream_id = stream.node_id


class PredecessorFetcher:
    """A fetcher written for the predecessor, as a Seamless fetcher.

    The predecessor called ``await fetcher.fetch(start, end, *, node_id,
    interval)`` with ``interval`` in seconds; Seamless calls ``fetch(node_id,
    interval, start, end)`` positionally with the interval's name. This makes
    the one call from the other (a sync ``fetch`` works too), so the existing
    fetcher is used as it is, from code or from ``seamless.yaml``'s
    ``package.module:factory``.

    >>> # provider = SeamlessDataProvider(store, PredecessorFetcher(OldBinanceFetcher()))
    """

    def __init__(self, fetcher: Any) -> None:
        if not callable(getattr(fetcher, "fetch", None)):
            raise InvalidRequestError("fetcher", f"{fetcher!r} has no fetch()")
        self.fetcher = fetcher

    async def fetch(self, node_id: str, interval: str, start: int, end: int) -> Any:
        """``fetcher.fetch(start, end, node_id=..., interval=<seconds>)``'s frame."""
        seconds = parse_interval(interval).seconds
        out = self.fetcher.fetch(start, end, node_id=node_id, interval=seconds)
        return await out if inspect.isawaitable(out) else out

    def __repr__(self) -> str:
        return f"PredecessorFetcher({self.fetcher!r})"


def _interval(value: int | str) -> Interval:
    if isinstance(value, bool | np.bool_):
        raise InvalidRequestError("interval", f"{value!r} is not seconds or a name like '1m'")
    if isinstance(value, int | np.integer):
        value = int(value)
        if value <= 0:
            raise InvalidRequestError("interval", f"{value} is not a positive number of seconds")
        return parse_interval(f"{value}s")
    return parse_interval(value)
