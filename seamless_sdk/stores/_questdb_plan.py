"""What a QuestDBStore write sends, worked out before anything is sent.

A batch of window writes of one series becomes one :class:`SeriesPlan`: the
bars to upsert (later items replace earlier ones in their window, as if each
were its own ``write``), the tombstones that delete stored bars the new
frames lack, the windows whose live row count is checked afterwards, and the
chunk coverage rows to send last. Pure: the caller supplies what is stored
(chunk coverage and live ``ts``), so all of this is tested without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import Interval, chunk_windows, window_next
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _window
from seamless_sdk.stores._arrow import Columns
from seamless_sdk.stores._questdb_sql import MIN_TIME, encode_ranges
from seamless_sdk.stores._window import CheckedWrite, inside
from seamless_sdk.stores.base import WindowWrite

Item = tuple[int, int, RangeSet, Columns]
"""One checked write of a series: ``start, end, covered, rows``."""


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """What one series' part of a batch sends (see the module docstring)."""

    node_id: str
    interval: Interval
    rows: Columns
    tombstones: np.ndarray  # epoch ns of stored bars to delete
    touched: RangeSet  # the windows written: their live count must equal rows in them
    added: RangeSet  # the coverage the items add


def check_write(w: WindowWrite) -> CheckedWrite:
    """One write's arguments checked (before anything is sent) and normalised:
    the stores' common check, plus QuestDB's own bound."""
    checked = _window.check_write(w)
    check_bounds(checked.iv, checked.start, checked.end)
    return checked


def check_bounds(iv: Interval, start: object, end: object) -> tuple[int, int]:
    """The stores' common bounds check, and not before 1970 (QuestDB cannot store it)."""
    bounds = _window.check_bounds(iv, start, end)
    for field, seconds in zip(("start", "end"), bounds, strict=True):
        if seconds < MIN_TIME:
            raise InvalidRequestError(
                field, f"{seconds} is before 1970-01-01, which QuestDB cannot store"
            )
    return bounds


def _empty() -> Columns:
    return Columns(
        np.zeros(0, np.int64),
        tuple(np.zeros(0, np.float64) for _ in range(5)),
        np.zeros(0, np.int32),
    )


def plan_series(
    node_id: str,
    iv: Interval,
    items: Sequence[Item],
    stored_chunks: dict[int, RangeSet],
    stored_ts_ns: np.ndarray,
) -> SeriesPlan:
    """The plan of ``items`` (in order) given the stored coverage of every chunk
    they touch and the sorted ``ts`` (epoch ns) of the live bars stored in
    their windows. Raises ``StoreError`` if a row would end up uncovered."""
    coverage = RangeSet().union(*stored_chunks.values())
    rows = _empty()
    touched = RangeSet()
    for start, end, cover, cols in items:
        window = RangeSet.span(start, end)
        coverage = coverage.union(cover)
        if len(cols.ts) and not inside(cols.ts, coverage.clip(start, end)).all():
            raise StoreError(
                "frame: some rows would be stored outside coverage (a reader must never see a "
                "bar that coverage does not vouch for); nothing was written"
            )
        rows = Columns.concat([rows.take(~inside(rows.ts, window)), cols])
        order = np.argsort(rows.ts, kind="stable")
        rows = rows.take(order)
        touched = touched.union(window)
    stored = np.asarray(stored_ts_ns, dtype=np.int64)
    tombstones = np.setdiff1d(stored[inside(stored, touched)], rows.ts)
    added = RangeSet().union(*(cover for _, _, cover, _ in items))
    return SeriesPlan(node_id, iv, rows, tombstones, touched, added)


CoverageRow = tuple[str, int, int, str]
"""A coverage row to send: ``(node, interval_s, chunk_start, ranges text)``."""


def coverage_rows(
    node_id: str,
    iv: Interval,
    stored_chunks: dict[int, RangeSet],
    *,
    add: RangeSet = RangeSet(),  # noqa: B008 - RangeSet is immutable
    remove: RangeSet = RangeSet(),  # noqa: B008
) -> list[CoverageRow]:
    """The chunk rows that turn ``stored_chunks`` (the stored coverage of every
    chunk ``add`` and ``remove`` touch) into ``stored + add - remove``; only
    chunks that change get a row (``""`` once a chunk has no coverage left)."""
    unit = iv.chunk_unit
    starts = {chunk_of(iv, ws) for s, e in add for ws, _ in chunk_windows(iv, s, e)}
    rows = []
    for cs in sorted(starts | set(stored_chunks)):
        old = stored_chunks.get(cs, RangeSet())
        new = old.union(add.clip(cs, window_next(cs, unit))).subtract(remove)
        if new != old:
            rows.append((node_id, iv.seconds, cs, encode_ranges(new)))
    return rows
