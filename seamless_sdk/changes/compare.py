"""Compare the stored bars of one partition window in two stores, bar by bar.

The canary compares its shadow store with the main store with
:func:`compare_frames`: bars only on one side (by ``ts``), bars on both whose
values differ beyond the column's tolerance (``|shadow - main| <= abs + rel *
|main|``; NaN equals NaN only), and the conformance flag counts of each side.
Every differing bar is listed, not sampled: the report is evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import VALUE_COLUMNS, epoch_seconds, iso_utc
from seamless_sdk.changes.config import Tolerance
from seamless_sdk.conformance.spec.flags import count_flags
from seamless_sdk.jsonable import jsonable


@dataclass(frozen=True, slots=True)
class BarDifference:
    """One bar stored on both sides with at least one value apart beyond tolerance:
    ``values`` maps each differing column to ``(main, shadow)``."""

    ts: int
    values: Mapping[str, tuple[float, float]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"ts": ISO, "columns": {col: {"main": x, "shadow": y}}}``."""
        return {
            "ts": iso_utc(self.ts),
            "columns": {
                c: {"main": jsonable(m), "shadow": jsonable(s)} for c, (m, s) in self.values.items()
            },
        }


@dataclass(frozen=True, slots=True)
class FrameComparison:
    """What differs between the main and the shadow bars of one window."""

    main_rows: int
    shadow_rows: int
    only_main: tuple[int, ...]
    only_shadow: tuple[int, ...]
    differing: tuple[BarDifference, ...]
    main_flags: Mapping[str, int] = field(default_factory=dict)
    shadow_flags: Mapping[str, int] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        """No bar on one side only and no value apart beyond tolerance."""
        return not (self.only_main or self.only_shadow or self.differing)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, every differing and one-sided bar listed."""
        return {
            "main_rows": self.main_rows,
            "shadow_rows": self.shadow_rows,
            "only_main": [iso_utc(t) for t in self.only_main],
            "only_shadow": [iso_utc(t) for t in self.only_shadow],
            "differing": [d.to_dict() for d in self.differing],
            "main_flags": dict(self.main_flags),
            "shadow_flags": dict(self.shadow_flags),
        }


def within(main: np.ndarray, shadow: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Element-wise: is ``shadow`` equal to ``main`` within ``tolerance``?

    NaN equals NaN (both sides lack the value) and nothing else; an infinite
    value equals only the same infinity.
    """
    a = np.asarray(main, dtype=np.float64)
    b = np.asarray(shadow, dtype=np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.abs(b - a) <= tolerance.abs + tolerance.rel * np.abs(a)
    exact = a == b  # covers equal infinities, where the difference is NaN
    return both_nan | exact | np.nan_to_num(close, nan=False).astype(bool)


def compare_frames(
    main: pd.DataFrame,
    shadow: pd.DataFrame,
    tolerances: Mapping[str, Tolerance] | None = None,
) -> FrameComparison:
    """Compare two stored bar frames of the same window.

    ``tolerances`` maps a value column (or ``default``) to its
    :class:`Tolerance`; a column without one is compared exactly.
    """
    tol = dict(tolerances or {})
    mt = np.asarray(epoch_seconds(main["ts"]), dtype=np.int64)
    st = np.asarray(epoch_seconds(shadow["ts"]), dtype=np.int64)
    common, mi, si = np.intersect1d(mt, st, assume_unique=True, return_indices=True)
    only_main = np.setdiff1d(mt, st, assume_unique=True)
    only_shadow = np.setdiff1d(st, mt, assume_unique=True)
    bad = np.zeros(len(common), dtype=bool)
    columns: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for column in VALUE_COLUMNS:
        rule = tol.get(column) or tol.get("default") or Tolerance()
        a = main[column].to_numpy(np.float64)[mi]
        b = shadow[column].to_numpy(np.float64)[si]
        off = ~within(a, b, rule)
        columns[column] = (off, a, b)
        bad |= off
    rows = np.flatnonzero(bad)
    # Plain Python lists per column: building one small dict per differing bar
    # from numpy scalars is ten times slower.
    picked = {
        c: (off[rows].tolist(), a[rows].tolist(), b[rows].tolist())
        for c, (off, a, b) in columns.items()
    }
    differing = [
        BarDifference(
            ts,
            {c: (pa[i], pb[i]) for c, (offs, pa, pb) in picked.items() if offs[i]},
        )
        for i, ts in enumerate(common[rows].tolist())
    ]
    return FrameComparison(
        main_rows=len(main),
        shadow_rows=len(shadow),
        only_main=tuple(int(t) for t in only_main),
        only_shadow=tuple(int(t) for t in only_shadow),
        differing=tuple(differing),
        main_flags=_flags(main),
        shadow_flags=_flags(shadow),
    )


def _flags(frame: pd.DataFrame) -> dict[str, int]:
    counts = count_flags(frame["flags"].to_numpy(np.int32)) if len(frame) else {}
    return {k: int(v) for k, v in counts.items() if v}
