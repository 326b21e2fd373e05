"""The bar-store interface every store implements.

A store keeps bars per ``(node_id, interval)`` in chunks aligned to the
interval's chunk windows (see ``seamless_sdk.intervals``) together with the
coverage that goes with them. Bars and coverage change in one transaction: a
reader never sees a bar that coverage does not vouch for, nor coverage without
its bars.

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

from seamless_sdk.intervals import Interval
from seamless_sdk.ranges import RangeSet


@dataclass(frozen=True, eq=False, slots=True)
class WindowWrite:
    """One window of a batch write (:meth:`BarStore.write_many`): the arguments
    :meth:`BarStore.write` takes, with the same meaning. Compared by identity
    (a frame has no useful equality)."""

    node_id: str
    interval: Interval | str
    start: int
    end: int
    frame: pd.DataFrame
    covered: RangeSet | None = None


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
