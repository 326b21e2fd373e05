"""The bar-store interface every store implements.

A store keeps bars per ``(node_id, interval)`` in chunks aligned to the
interval's chunk windows (see ``seamless_sdk.intervals``) together with the
coverage that goes with them. Bars and coverage change in one transaction: a
reader never sees a bar that coverage does not vouch for, nor coverage without
its bars.

A reader that decides from coverage which bars to trust must take both from
one snapshot (:func:`read_covered_many`): coverage read in one call and bars
in the next can straddle another process's ``remove_coverage``, and the answer
would then claim a window whose bars it does not hold.

The frame a store reads and writes is the *stored bar frame*
(``seamless_sdk.bars.STORED_COLUMNS``): ``ts`` (``datetime64[ns, UTC]``,
ascending, unique), ``open high low close volume`` (float64) and ``flags``
(int32, the conformance flag bitset), in that order, with a default RangeIndex.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pandas as pd

from seamless_sdk.frames import Bars
from seamless_sdk.intervals import Interval
from seamless_sdk.ranges import RangeSet


@dataclass(frozen=True, eq=False, slots=True)
class WindowWrite:
    """One window of a batch write (:meth:`BarStore.write_many`): the arguments
    :meth:`BarStore.write` takes, with the same meaning. Compared by identity
    (a frame has no useful equality).

    ``frame`` may also be the window's bars as :class:`~seamless_sdk.frames.Bars`
    (what a fill has from the conformance pipeline): the store checks the same
    rules on the arrays and skips pandas' per-column extraction."""

    node_id: str
    interval: Interval | str
    start: int
    end: int
    frame: pd.DataFrame | Bars
    covered: RangeSet | None = None


@dataclass(frozen=True, slots=True)
class CoveredBars:
    """One series' stored bars of a window and the coverage that vouches for
    them, read together (:func:`read_covered_many`).

    ``coverage`` is the series' coverage inside the window; ``bars`` are its
    stored bars inside the window. A caller serves only ``bars.rows_in(part)``
    for parts of ``coverage``.
    """

    coverage: RangeSet
    bars: Bars


@runtime_checkable
class BarStore(Protocol):
    """What the provider and the Dagster assets need from a store."""

    def coverage(self, node_id: str, interval: Interval) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that have been checked and stored."""
        ...

    def read(self, node_id: str, interval: Interval, start: int, end: int) -> pd.DataFrame:
        """Stored bars with ``start <= ts < end`` as a stored bar frame."""
        ...

    def write(
        self,
        node_id: str,
        interval: Interval,
        start: int,
        end: int,
        frame: pd.DataFrame,
        covered: RangeSet | None = None,
    ) -> None:
        """Atomically replace the bars in ``[start, end)`` with ``frame`` and add
        ``covered`` (default: the whole window) to coverage.

        Every row of ``frame`` lies in ``[start, end)``; ``covered`` lies inside
        it. Repeating the same write changes nothing (idempotent).
        """
        ...

    def write_many(self, writes: Sequence[WindowWrite]) -> None:
        """Apply several window writes in one transaction: all of them or none.

        Each item means exactly what the same ``write`` call means, applied in
        order (a later item sees the coverage and bars of earlier ones). If any
        item is invalid or fails, ``StoreError``/``InvalidRequestError`` is
        raised and nothing of the batch is visible, ever.
        """
        ...

    def remove_coverage(self, node_id: str, interval: Interval, ranges: RangeSet) -> None:
        """Forget coverage (and delete the bars) in ``ranges``: used to repair drift."""
        ...

    def series(self) -> list[tuple[str, str]]:
        """Every ``(node_id, interval name)`` that has coverage."""
        ...

    def window_lock(
        self, node_id: str, interval: Interval, chunk_start: int
    ) -> AbstractContextManager[None]:
        """An exclusive lock on one chunk, held across threads and processes.

        Fills take it before re-checking coverage and fetching, so two fills
        of the same chunk never fetch the same bars.
        """
        ...

    def close(self) -> None:
        """Release connections and file handles."""
        ...


@runtime_checkable
class BatchReads(Protocol):
    """Batch reads a store may add to :class:`BarStore` (``read_many`` uses them).

    A store without them is read series by series through the helpers below;
    one with them answers a universe in a few queries. Either way the answer
    and every check are those of the per-series calls.
    """

    def coverage_many(
        self,
        node_ids: Sequence[str],
        interval: Interval,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[str, RangeSet]:
        """``coverage`` of every node (one key per distinct id, in the order
        asked), clipped to ``[start, end)`` when both are given."""
        ...

    def read_many(
        self, node_ids: Sequence[str], interval: Interval, start: int, end: int
    ) -> dict[str, pd.DataFrame]:
        """``read`` of every node over one ``[start, end)`` from one snapshot:
        node id -> its stored bar frame (one key per distinct id, in the order asked)."""
        ...


@runtime_checkable
class SnapshotReads(Protocol):
    """Reads of coverage and bars from one snapshot, which a store may add
    (LocalStore and PostgresStore: one transaction or statement)."""

    def read_covered_many(
        self, node_ids: Sequence[str], interval: Interval, start: int, end: int
    ) -> dict[str, CoveredBars]:
        """Node id -> its coverage and stored bars inside ``[start, end)``,
        all from one snapshot (one key per distinct id, in the order asked)."""
        ...


def coverage_many(
    store: BarStore,
    node_ids: Sequence[str],
    interval: Interval,
    start: int | None = None,
    end: int | None = None,
) -> dict[str, RangeSet]:
    """``store.coverage_many`` where the store has it, else one ``coverage`` per node."""
    batch = getattr(store, "coverage_many", None)
    if batch is not None:
        return batch(node_ids, interval, start, end)  # type: ignore[no-any-return]
    out = {}
    for node in dict.fromkeys(node_ids):
        cover = store.coverage(node, interval)
        out[node] = cover if start is None or end is None else cover.clip(start, end)
    return out


def read_bars_many(
    store: BarStore, node_ids: Sequence[str], interval: Interval, start: int, end: int
) -> dict[str, Bars]:
    """Stored bars of every node over ``[start, end)`` as arrays: the store's
    ``read_bars_many`` (LocalStore: views of one block), else its ``read_many``,
    else one ``read_bars``/``read`` per node."""
    fast = getattr(store, "read_bars_many", None)
    if fast is not None:
        return fast(node_ids, interval, start, end)  # type: ignore[no-any-return]
    batch = getattr(store, "read_many", None)
    if batch is not None:
        frames = batch(node_ids, interval, start, end)
        return {node: Bars.from_frame(frame) for node, frame in frames.items()}
    one = getattr(store, "read_bars", None)
    out = {}
    for node in dict.fromkeys(node_ids):
        if one is not None:
            out[node] = one(node, interval, start, end)
        else:
            out[node] = Bars.from_frame(store.read(node, interval, start, end))
    return out


def read_covered_many(
    store: BarStore, node_ids: Sequence[str], interval: Interval, start: int, end: int
) -> dict[str, CoveredBars]:
    """Every node's coverage and stored bars inside ``[start, end)``, read so
    that the bars are those the coverage vouches for.

    A store with :class:`SnapshotReads` answers from one snapshot. For any other
    the coverage is read before and after the bars and only what both vouch
    for is kept: that catches a ``remove_coverage`` that commits in between,
    but not a remove and a re-write that both do (the store's own reads must
    be atomic for that, as LocalStore's and PostgresStore's are).

    >>> # got = read_covered_many(store, ["demo:BTC"], iv, t0, t1)["demo:BTC"]
    >>> # got.bars.rows_in(got.coverage.intersect(wanted))
    """
    fast = getattr(store, "read_covered_many", None)
    if fast is not None:
        return fast(node_ids, interval, start, end)  # type: ignore[no-any-return]
    before = coverage_many(store, node_ids, interval, start, end)
    bars = read_bars_many(store, node_ids, interval, start, end)
    after = coverage_many(store, node_ids, interval, start, end)
    out = {}
    for node, cover in before.items():
        both = cover.intersect(after[node])
        out[node] = CoveredBars(both, bars[node] if both == cover else bars[node].rows_in(both))
    return out


def read_covered(
    store: BarStore, node_id: str, interval: Interval, start: int, end: int
) -> CoveredBars:
    """:func:`read_covered_many` of one series."""
    return read_covered_many(store, [node_id], interval, start, end)[node_id]
