"""Which rows may speak for a bar when several claim it (the ``dedup`` policy).

Before the roll-up, a policy may narrow each bar's rows down to the winning
ones (seed 003 §4: "on conflict source priority first, or last write wins by
ingest time"):

* ``rollup`` (default): every row counts; identical rows are duplicates and
  different ones samples (``rollup.py``).
* ``source_priority``: only the rows of the best ``source`` present in the
  bar count (order from the policy's ``source_priority``; unknown and
  missing sources rank last, equally).
* ``ingest_time``: only the rows with the latest ``ingest_time`` (or
  ``ingest_at``, the lineage name) count: the last write wins. A missing
  ingest time is older than any other.

``roll_up`` applies the ranks right after its time sort (one sort for
both). The winners then roll up as usual, so a winning source that sent several
samples still gets first/max/min/last/sum. Rows that lost are counted as
``superseded`` and their bar is flagged ``DEDUPED``. A frame without the
policy's column is resolved by ``rollup`` and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seamless_sdk.conformance.engine.time import to_utc_ns

INGEST_COLUMNS: tuple[str, ...] = ("ingest_time", "ingest_at")
SOURCE_COLUMN = "source"
_OLDEST = np.iinfo(np.int64).max  # rank of a missing ingest time: loses to any other


@dataclass(frozen=True)
class Ranks:
    """Per-row rank (lower wins) and the column it came from, or why there is none."""

    rank: np.ndarray | None
    column: str | None
    problem: str | None = None


def source_ranks(frame: pd.DataFrame, priority: Sequence[str]) -> Ranks:
    """Rank rows by their ``source`` in ``priority`` (first is best)."""
    if SOURCE_COLUMN not in frame.columns:
        return Ranks(None, None)
    # Rank the few distinct values, not the million rows (6x faster than a row lookup).
    codes, distinct = pd.factorize(frame[SOURCE_COLUMN], use_na_sentinel=True)
    found = pd.Index(list(priority), dtype=object).get_indexer(pd.Index(distinct, dtype=object))
    by_code = np.append(np.where(found < 0, len(priority), found), len(priority))
    return Ranks(by_code[codes].astype(np.int64), SOURCE_COLUMN)


def ingest_ranks(frame: pd.DataFrame) -> Ranks:
    """Rank rows by ingest time, latest first; unparseable times are a problem."""
    column = next((c for c in INGEST_COLUMNS if c in frame.columns), None)
    if column is None:
        return Ranks(None, None)
    values = frame[column]
    missing = values.isna().to_numpy()
    rank = np.full(len(values), _OLDEST, dtype=np.int64)
    present = values[~missing] if missing.any() else values
    if len(present):
        parsed = to_utc_ns(present)
        if parsed.ns is None:
            return Ranks(None, column, f"{column}: {parsed.errors[0].split(': ', 1)[-1]}")
        rank[~missing] = -parsed.ns
    return Ranks(rank, column)


def winners(bar: np.ndarray, rank: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Mask of the rows that win their bar (lowest rank), or None when all do.

    Rows are grouped by bar already (``starts`` are the groups' first rows),
    as the roll-up's time sort leaves them.
    """
    if len(bar) < 2:
        return None
    best = np.minimum.reduceat(rank, starts)
    sizes = np.diff(np.append(starts, len(bar)))
    won = rank == np.repeat(best, sizes)
    return None if won.all() else won
