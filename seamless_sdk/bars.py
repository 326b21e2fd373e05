"""The vocabulary of a bar: column names, dtypes, and the conversions every layer shares.

Stores, conformance, fetchers, the read engine and the Dagster checks all
speak of the same frame, so its words live here, below all of them (this
module imports only numpy and pandas):

* a *bar frame* has ``ts`` (``datetime64[ns, UTC]``, the bar's open) and
  ``open high low close volume`` (float64): :data:`BAR_COLUMNS`;
* a *stored bar frame* adds ``flags`` (int32, the conformance flag bitset):
  :data:`STORED_COLUMNS`, with a default RangeIndex.

:func:`epoch_seconds` turns any ``ts`` column into int64 epoch seconds,
:func:`ts_from_seconds` goes back, and :func:`empty_bar_frame` is the frame
with no rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

NS = 1_000_000_000
"""Nanoseconds per second."""
BAR_COLUMNS: tuple[str, ...] = ("ts", "open", "high", "low", "close", "volume")
"""The columns of a bar frame, in order."""
STORED_COLUMNS: tuple[str, ...] = (*BAR_COLUMNS, "flags")
"""The columns of a stored bar frame, in order."""
VALUE_COLUMNS: tuple[str, ...] = BAR_COLUMNS[1:]
"""The float64 columns: ``open high low close volume``."""
PRICE_COLUMNS: tuple[str, ...] = VALUE_COLUMNS[:4]
"""The price columns: ``open high low close``."""
UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
"""The dtype of ``ts``."""
VALUE_DTYPE = np.dtype(np.float64)
"""The dtype of every value column."""
FLAG_DTYPE = np.int32
"""The dtype of ``flags``."""

_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": NS}


def epoch_seconds(ts: Any) -> np.ndarray:
    """A ``ts`` column as int64 epoch seconds, floored to the second.

    Accepts int epoch seconds (returned as they are) or anything datetime-like
    of any unit: naive values mean UTC, aware ones may be in any zone.

    >>> epoch_seconds(pd.Series(pd.to_datetime([60], unit="s", utc=True))).tolist()
    [60]
    """
    dtype = getattr(ts, "dtype", None)
    if isinstance(dtype, pd.DatetimeTZDtype) or getattr(dtype, "kind", "") == "M":
        index = pd.DatetimeIndex(ts)
        # asi8 is the UTC instant for aware values and the wall time for naive
        # ones, which is what "naive means UTC" asks for.
        return index.asi8 // _PER_SECOND[index.unit]
    return np.asarray(ts, dtype=np.int64)


def iso_utc(seconds: int) -> str:
    """Epoch seconds as ISO-8601 UTC, ``2025-01-01T00:00:00Z``: how messages,
    notes and metadata name a time (a person reads them, not a parser).

    >>> iso_utc(1_735_689_600)
    '2025-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ts_from_seconds(seconds: np.ndarray) -> pd.DatetimeIndex:
    """The ``datetime64[ns, UTC]`` values of int64 epoch seconds (no parsing)."""
    return pd.DatetimeIndex((np.asarray(seconds, dtype=np.int64) * NS).view("M8[ns]"), dtype=UTC_NS)


def empty_bar_frame(*, flags: bool = True) -> pd.DataFrame:
    """A stored bar frame with no rows (exact dtypes, RangeIndex); without
    ``flags`` the bar frame a fetcher returns for an empty window."""
    data: dict[str, Any] = {"ts": ts_from_seconds(np.zeros(0, dtype=np.int64))}
    data.update({c: np.zeros(0, dtype=VALUE_DTYPE) for c in VALUE_COLUMNS})
    if flags:
        data["flags"] = np.zeros(0, dtype=FLAG_DTYPE)
    return pd.DataFrame(data)
