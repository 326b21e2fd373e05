"""RangeSet: the single source of truth for range math.

A RangeSet is an immutable, normalised set of half-open integer ranges
``[start, end)`` (epoch seconds): sorted, disjoint, adjacent ranges merged,
empty ranges dropped. Because every instance is canonical, equality and hashing
are structural.

>>> RangeSet([(10, 20), (0, 5), (5, 8)])
RangeSet([(0, 8), (10, 20)])
>>> RangeSet([(0, 100)]).missing(50, 150)
RangeSet([(100, 150)])
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

from seamless_sdk.errors import InvalidRequestError

Pair = tuple[int, int]


def _normalise(pairs: Iterable[Any]) -> tuple[Pair, ...]:
    try:
        found = iter(pairs)
    except TypeError:
        raise InvalidRequestError(
            "ranges", f"{pairs!r} is not an iterable of (start, end) pairs"
        ) from None
    items: list[Pair] = []
    for pair in found:
        try:
            s, e = pair
        except (TypeError, ValueError):
            raise InvalidRequestError("ranges", f"{pair!r} is not a (start, end) pair") from None
        s, e = _as_int("start", s), _as_int("end", e)
        if s > e:
            raise InvalidRequestError("ranges", f"start {s} is after end {e}")
        if s < e:
            items.append((s, e))
    if not items:
        return ()
    items.sort()
    merged: list[Pair] = [items[0]]
    for s, e in items[1:]:
        last_s, last_e = merged[-1]
        if s <= last_e:
            if e > last_e:
                merged[-1] = (last_s, e)
        else:
            merged.append((s, e))
    return tuple(merged)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InvalidRequestError("ranges", f"{name} {value!r} is not an integer")
    return int(value)


class RangeSet:
    """An immutable, normalised set of half-open ``[start, end)`` integer ranges."""

    __slots__ = ("_ranges", "_starts")

    def __init__(self, ranges: Iterable[Any] = ()) -> None:
        self._ranges: tuple[Pair, ...] = _normalise(ranges)
        self._starts: list[int] | None = None

    @classmethod
    def _trusted(cls, ranges: tuple[Pair, ...]) -> RangeSet:
        # Internal constructor for results that are normalised by construction.
        obj = cls.__new__(cls)
        obj._ranges = ranges
        obj._starts = None
        return obj

    @classmethod
    def span(cls, start: int, end: int) -> RangeSet:
        """The set holding the single range ``[start, end)`` (empty if equal)."""
        return cls([(start, end)])

    # -- algebra ---------------------------------------------------------
    def union(self, *others: RangeSet | Iterable[Any]) -> RangeSet:
        """All points in this set or any of ``others``."""
        pairs: list[Any] = list(self._ranges)
        for other in others:
            pairs.extend(other._ranges if isinstance(other, RangeSet) else RangeSet(other)._ranges)
        return RangeSet(pairs)

    def intersect(self, other: RangeSet | Iterable[Any]) -> RangeSet:
        """Points in both sets."""
        b = other._ranges if isinstance(other, RangeSet) else RangeSet(other)._ranges
        a = self._ranges
        out: list[Pair] = []
        i = j = 0
        while i < len(a) and j < len(b):
            s = max(a[i][0], b[j][0])
            e = min(a[i][1], b[j][1])
            if s < e:
                out.append((s, e))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return RangeSet._trusted(tuple(out))

    def subtract(self, other: RangeSet | Iterable[Any]) -> RangeSet:
        """Points in this set and not in ``other``."""
        b = other._ranges if isinstance(other, RangeSet) else RangeSet(other)._ranges
        out: list[Pair] = []
        j = 0
        for s, e in self._ranges:
            cur = s
            while j < len(b) and b[j][1] <= cur:
                j += 1
            k = j
            while k < len(b) and b[k][0] < e:
                bs, be = b[k]
                if bs > cur:
                    out.append((cur, bs))
                cur = max(cur, be)
                if cur >= e:
                    break
                k += 1
            if cur < e:
                out.append((cur, e))
        return RangeSet._trusted(tuple(out))

    def missing(self, start: int, end: int) -> RangeSet:
        """The parts of ``[start, end)`` this set does not cover (empty = complete)."""
        return RangeSet.span(start, end).subtract(self)

    def clip(self, start: int, end: int) -> RangeSet:
        """This set restricted to ``[start, end)``."""
        return self.intersect(RangeSet.span(start, end))

    def covers(self, start: int, end: int) -> bool:
        """True when ``[start, end)`` lies wholly inside this set."""
        if start >= end:
            return True
        if self._starts is None:
            self._starts = [s for s, _ in self._ranges]
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ranges[i][1] >= end

    def split(self, boundaries: Iterable[int]) -> list[Pair]:
        """Cut every range at the given sorted boundaries; returns a list of pairs."""
        cuts = sorted(set(boundaries))
        out: list[Pair] = []
        for s, e in self._ranges:
            i = bisect.bisect_right(cuts, s)
            cur = s
            while i < len(cuts) and cuts[i] < e:
                out.append((cur, cuts[i]))
                cur = cuts[i]
                i += 1
            out.append((cur, e))
        return out

    def total(self) -> int:
        """Seconds covered."""
        return sum(e - s for s, e in self._ranges)

    @property
    def start(self) -> int | None:
        """The lowest covered point, or None when empty."""
        return self._ranges[0][0] if self._ranges else None

    @property
    def end(self) -> int | None:
        """The end of the highest range, or None when empty."""
        return self._ranges[-1][1] if self._ranges else None

    def ranges(self) -> list[Pair]:
        """The ranges as a list of ``(start, end)`` tuples."""
        return list(self._ranges)

    def to_list(self) -> list[list[int]]:
        """JSON-friendly form: ``[[start, end], ...]``."""
        return [[s, e] for s, e in self._ranges]

    # -- protocol --------------------------------------------------------
    def __iter__(self) -> Iterator[Pair]:
        return iter(self._ranges)

    def __len__(self) -> int:
        return len(self._ranges)

    def __bool__(self) -> bool:
        return bool(self._ranges)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RangeSet):
            return self._ranges == other._ranges
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._ranges)

    def __repr__(self) -> str:
        return f"RangeSet({list(self._ranges)!r})"

    def __or__(self, other: RangeSet) -> RangeSet:
        return self.union(other)

    def __and__(self, other: RangeSet) -> RangeSet:
        return self.intersect(other)

    def __sub__(self, other: RangeSet) -> RangeSet:
        return self.subtract(other)

    def __contains__(self, point: object) -> bool:
        if not isinstance(point, int):
            return False
        return self.covers(point, point + 1)
