"""Small, fast helpers on stored bar frames (see ``stores/base.py``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BAR_COLUMNS, STORED_COLUMNS

NS = 1_000_000_000


def ts_seconds(frame: pd.DataFrame) -> np.ndarray:
    """The ``ts`` column as int64 epoch seconds (no per-row objects)."""
    return frame["ts"].array.asi8 // NS  # type: ignore[attr-defined]


def empty_bars(lineage: bool = False) -> pd.DataFrame:
    """An empty result frame with the contract's columns and dtypes."""
    data: dict[str, object] = {
        "ts": pd.DatetimeIndex([], dtype="datetime64[ns, UTC]"),
        **{c: np.empty(0, np.float64) for c in BAR_COLUMNS[1:]},
    }
    if lineage:
        data["source"] = np.empty(0, dtype=object)
        data["flags"] = np.empty(0, np.int32)
    return pd.DataFrame(data)


def rows_in(frame: pd.DataFrame, ranges: RangeSet) -> pd.DataFrame:
    """Rows of a sorted stored frame whose ``ts`` lies in ``ranges``."""
    if not ranges or frame.empty:
        return frame.iloc[0:0]
    ns = frame["ts"].array.asi8  # type: ignore[attr-defined]
    bounds = [
        (int(np.searchsorted(ns, s * NS)), int(np.searchsorted(ns, e * NS))) for s, e in ranges
    ]
    bounds = [(lo, hi) for lo, hi in bounds if hi > lo]
    if not bounds:
        return frame.iloc[0:0]
    if len(bounds) == 1:
        lo, hi = bounds[0]
        return frame if (lo == 0 and hi == len(frame)) else frame.iloc[lo:hi]
    return frame.take(np.concatenate([np.arange(lo, hi) for lo, hi in bounds]))


def assemble(pieces: Sequence[tuple[str, pd.DataFrame]], lineage: bool) -> pd.DataFrame:
    """One sorted result frame from disjoint pieces of stored frames, each tagged
    with its source; ``source`` and ``flags`` are kept only with ``lineage``."""
    pieces = [(src, f) for src, f in pieces if len(f)]
    if not pieces:
        return empty_bars(lineage)
    if lineage:
        tagged = [f.assign(source=src) for src, f in pieces]
        columns = [*STORED_COLUMNS[:-1], "source", "flags"]
    else:
        tagged = [f for _, f in pieces]
        columns = list(BAR_COLUMNS)
    if len(tagged) == 1:
        out = tagged[0]
    else:
        out = pd.concat(tagged, ignore_index=True)
        ns = out["ts"].array.asi8  # type: ignore[attr-defined]
        if len(ns) > 1 and not (ns[1:] > ns[:-1]).all():
            out = out.take(np.argsort(ns, kind="stable"))
    out = out[columns] if list(out.columns) != columns else out
    return out.reset_index(drop=True)
