"""The in-memory bar cache: recently read spans, bounded by bytes, least recently
used out first.

An entry is a chunk-aligned span of one series as read from storage, together
with the coverage of that span at the time. Coverage in a store only grows
(a window is never un-covered except by an explicit repair), so an entry can
answer any request its coverage vouches for; anything else goes to storage.
Local writes drop the entries they overlap, and entries expire after
``ttl_s`` to bound the staleness a repair in another process can cause.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from seamless_sdk.frames import Bars
from seamless_sdk.ranges import RangeSet

SeriesKey = tuple[str, int]
_SEEN_MAX = 4096


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """The stored bars of ``[start, end)`` and the coverage inside it."""

    start: int
    end: int
    bars: Bars
    covered: RangeSet
    nbytes: int
    expires: float


class BarCache:
    """A byte-bounded LRU of stored-bar spans; thread-safe."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, ttl_s: float = 300.0) -> None:
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._seen: OrderedDict[tuple[SeriesKey, int, int], None] = OrderedDict()
        self._entries: OrderedDict[tuple[SeriesKey, int, int], CacheEntry] = OrderedDict()
        self._by_series: dict[SeriesKey, list[tuple[SeriesKey, int, int]]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def lookup(self, series: SeriesKey, start: int, end: int) -> CacheEntry | None:
        """An entry whose span holds ``[start, end)``, or None."""
        now = time.monotonic()
        with self._lock:
            for key in reversed(self._by_series.get(series, ())):
                entry = self._entries[key]
                if entry.start <= start and end <= entry.end:
                    if entry.expires < now:
                        self._drop(key)
                        return None
                    self._entries.move_to_end(key)
                    return entry
        return None

    def admit(self, series: SeriesKey, start: int, end: int) -> bool:
        """Whether a span read from storage should be cached: only the second
        time it is read. A span read once is handed to the caller without the
        copy that sharing it with the cache would cost."""
        key = (series, start, end)
        with self._lock:
            if key in self._seen:
                del self._seen[key]
                return True
            self._seen[key] = None
            if len(self._seen) > _SEEN_MAX:
                self._seen.popitem(last=False)
        return False

    def put(self, series: SeriesKey, start: int, end: int, bars: Bars, covered: RangeSet) -> None:
        """Remember ``bars`` as the bars of ``[start, end)`` with ``covered``."""
        nbytes = bars.nbytes + 256
        if nbytes > self.max_bytes:
            return
        key = (series, start, end)
        entry = CacheEntry(
            start, end, bars.as_shared(), covered, nbytes, time.monotonic() + self.ttl_s
        )
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = entry
            self._by_series.setdefault(series, []).append(key)
            self._bytes += nbytes
            while self._bytes > self.max_bytes and self._entries:
                self._drop(next(iter(self._entries)))

    def invalidate(self, series: SeriesKey, start: int, end: int) -> None:
        """Forget every entry of ``series`` that overlaps ``[start, end)``."""
        with self._lock:
            for key in list(self._by_series.get(series, ())):
                entry = self._entries[key]
                if entry.start < end and start < entry.end:
                    self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_series.clear()
            self._seen.clear()
            self._bytes = 0

    def _drop(self, key: tuple[SeriesKey, int, int]) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.nbytes
        keys = self._by_series[key[0]]
        keys.remove(key)
        if not keys:
            del self._by_series[key[0]]
