"""Checking a window write before a store touches its database.

Every store takes the same ``write(node_id, interval, start, end, frame,
covered)`` (``base.BarStore``); this is that contract's argument check, done
entirely in Python so a bad node id, bound or frame never reaches SQL. The
same rules hold what a store reads back where its rows carry no checksums
(``stored_coverage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from seamless_sdk.bars import NS
from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import Interval, check_time, parse_interval
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id
from seamless_sdk.stores._arrow import Columns, columns_from_bars, columns_from_frame
from seamless_sdk.stores.base import WindowWrite


@dataclass(frozen=True, slots=True)
class CheckedWrite:
    """A window write whose every argument passed: ``cols`` are the frame's rows,
    ``cover`` the coverage it adds (the whole window when ``covered`` was None)."""

    node_id: str
    iv: Interval
    start: int
    end: int
    cover: RangeSet
    cols: Columns

    def __iter__(self) -> Iterator[Any]:
        """The fields in order, so ``node_id, iv, start, end, cover, cols = checked``."""
        return iter((self.node_id, self.iv, self.start, self.end, self.cover, self.cols))


def epoch_int(value: object, field: str) -> int:
    """``value`` as an int of epoch seconds in the supported range (a bound of a
    store call: no strings, floats or datetimes here, ``request`` parses those)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidRequestError(field, f"{value!r} is not an int of epoch seconds")
    return check_time(int(value), field)


def read_bounds(start: object, end: object) -> tuple[int, int]:
    """The ``[start, end)`` of a store read as ints (``epoch_int``); any
    alignment, and ``end <= start`` is an empty read, not an error."""
    return epoch_int(start, "start"), epoch_int(end, "end")


def clip_bounds(start: object, end: object) -> tuple[int, int] | None:
    """The optional ``[start, end)`` a ``coverage_many`` clips to: ``None`` unless
    both are given, else ints (``epoch_int``) with ``start <= end``."""
    if start is None or end is None:
        return None
    lo, hi = read_bounds(start, end)
    if lo > hi:
        raise InvalidRequestError("end", f"{hi} is before start {lo}")
    return lo, hi


def check_bounds(iv: Interval, start: object, end: object) -> tuple[int, int]:
    """``start``/``end`` as ints: epoch seconds in the supported range, aligned to
    ``iv``, ``start <= end``; ``InvalidRequestError`` naming the field if not."""
    out = []
    for field, value in (("start", start), ("end", end)):
        seconds = epoch_int(value, field)
        if not iv.is_aligned(seconds):
            raise InvalidRequestError(field, f"{value} is not aligned to the {iv.name} interval")
        out.append(seconds)
    if out[0] > out[1]:
        raise InvalidRequestError("end", f"{out[1]} is before start {out[0]}")
    return out[0], out[1]


def check_ranges(iv: Interval, ranges: object, field: str) -> RangeSet:
    """``ranges`` if it is a RangeSet aligned to ``iv`` inside the supported range."""
    if not isinstance(ranges, RangeSet):
        raise InvalidRequestError(field, f"expected a RangeSet, got {type(ranges).__name__}")
    for s, e in ranges:
        if not (iv.is_aligned(s) and iv.is_aligned(e)):
            raise InvalidRequestError(field, f"({s}, {e}) is not aligned to the {iv.name} interval")
    if ranges:
        check_time(ranges.start, field)  # type: ignore[arg-type]
        check_time(ranges.end, field)  # type: ignore[arg-type]
    return ranges


def stored_coverage(node_id: str, iv: Interval, rows: Iterable[tuple[Any, Any]]) -> RangeSet:
    """The RangeSet of a series' coverage rows as a store without row checksums
    reads them back (sorted by start): every store saves normalised RangeSets,
    so rows that are not integers aligned to ``iv``, ascending, disjoint and
    apart were not written by it. ``StoreCorruptedError`` naming the series
    then, rather than coverage vouching for windows no write ever filled."""
    pairs: list[tuple[int, int]] = []
    for lo, hi in rows:
        ok = isinstance(lo, int) and isinstance(hi, int) and lo < hi
        ok = ok and iv.is_aligned(lo) and iv.is_aligned(hi)
        if not ok or (pairs and lo <= pairs[-1][1]):
            raise StoreCorruptedError(
                node_id,
                iv.name,
                None,
                f"coverage row ({lo!r}, {hi!r}) is not aligned, or overlaps or touches "
                "the one before: no write saves that",
                advice=UNCHECKED_ADVICE,
            )
        pairs.append((lo, hi))
    return RangeSet(pairs)


UNCHECKED_ADVICE = (
    "the store's tables were changed by something other than Seamless: remove the "
    "series' coverage (remove_coverage) and fill it again, or restore from a backup"
)
"""What to do about damage in a store without row checksums (no repair() there)."""


def write_items(writes: object) -> list[object]:
    """The items of a ``write_many`` argument, each still to be checked by
    ``check_write``: any iterable of writes, not a single one."""
    if isinstance(writes, WindowWrite):
        raise InvalidRequestError("writes", "is one WindowWrite: pass a list of them")
    try:
        return list(writes)  # type: ignore[call-overload]
    except TypeError:
        raise InvalidRequestError("writes", f"{writes!r} is not a list of WindowWrite") from None


def check_chunk_start(iv: Interval, chunk_start: object) -> int:
    """``chunk_start`` as an int if it is the start of one of ``iv``'s chunks."""
    cs = epoch_int(chunk_start, "chunk_start")
    if chunk_of(iv, cs) != cs:
        raise InvalidRequestError(
            "chunk_start", f"{cs} is not the start of a {iv.chunk_unit} chunk"
        )
    return cs


def check_write(w: object) -> CheckedWrite:
    """Check one :class:`WindowWrite` (``InvalidRequestError`` for bad arguments,
    ``StoreError`` for a frame that is not a conforming stored bar frame)."""
    if not isinstance(w, WindowWrite):
        raise InvalidRequestError("writes", f"expected WindowWrite items, got {type(w).__name__}")
    node_id = validate_node_id(w.node_id)
    iv = parse_interval(w.interval)
    start, end = check_bounds(iv, w.start, w.end)
    cover = RangeSet.span(start, end) if w.covered is None else w.covered
    check_ranges(iv, cover, "covered")
    if cover and (cover.start < start or cover.end > end):  # type: ignore[operator]
        raise InvalidRequestError("covered", f"{cover} is not inside [{start}, {end})")
    if isinstance(w.frame, Bars):
        cols = columns_from_bars(w.frame, iv.seconds, start, end)
    else:
        cols = columns_from_frame(w.frame, iv.seconds, start, end)
    return CheckedWrite(node_id, iv, start, end, cover, cols)


def inside(ts_ns: np.ndarray, ranges: RangeSet) -> np.ndarray:
    """Boolean mask of the sorted ``ts_ns`` (epoch ns) that fall in ``ranges``."""
    mask = np.zeros(len(ts_ns), dtype=bool)
    for s, e in ranges:
        lo, hi = np.searchsorted(ts_ns, [s * NS, e * NS])
        mask[lo:hi] = True
    return mask


def check_rows_covered(ts_ns: np.ndarray, coverage: RangeSet) -> None:
    """``StoreError`` unless every row lies inside ``coverage`` (invariant 1)."""
    if len(ts_ns) and not inside(ts_ns, coverage).all():
        raise StoreError(
            "frame: some rows would be stored outside coverage (a reader must never see a "
            "bar that coverage does not vouch for); nothing was written"
        )
