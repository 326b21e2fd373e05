"""Bars and checks the contract tests share (and their worker processes import)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS, STORED_COLUMNS, ts_from_seconds
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

DAY = 86_400
HOUR = 3_600
BASE = 1_704_067_200  # 2024-01-01T00:00:00Z: after 1970, which QuestDB needs
NODE = "contract:A"


def frame(ts_seconds: np.ndarray | list[int], version: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """A stored bar frame at ``ts_seconds`` that keeps every quality rule.

    Every value of a bar carries its own time and ``version`` (``close`` is
    ``ts / 60 + version``), so a reader can tell exactly which write a bar
    came from and that it sits at its own time.
    """
    ts = np.asarray(ts_seconds, dtype=np.int64)
    rng = np.random.default_rng(seed)
    close = ts / 60.0 + version
    open_ = close * rng.uniform(0.99, 1.01, len(ts))
    return pd.DataFrame(
        {
            "ts": ts_from_seconds(ts),
            "open": open_,
            "high": np.maximum(open_, close) + 1.0,
            "low": np.minimum(open_, close) - 1.0,
            "close": close,
            "volume": np.full(len(ts), float(version)),
            "flags": np.zeros(len(ts), dtype=np.int32),
        }
    )[list(STORED_COLUMNS)]


def minutes(start: int, end: int) -> np.ndarray:
    """Every minute bar of ``[start, end)``."""
    return np.arange(start, end, 60, dtype=np.int64)


def ts_seconds(df: pd.DataFrame) -> np.ndarray:
    return df["ts"].to_numpy(dtype="int64") // NS


def check_consistent(before: RangeSet, bars: pd.DataFrame, after: RangeSet) -> str | None:
    """For a series whose coverage only grows and whose covered windows always
    hold every minute bar: coverage read ``before`` the bars must have all its
    bars in them, and every bar must be inside coverage read ``after``.
    Returns what is wrong, or ``None``."""
    ts = ts_seconds(bars)
    if len(ts) and not (np.diff(ts) > 0).all():
        return "bars are not strictly ascending"
    for s, e in after.missing(int(ts.min()), int(ts.max()) + 60) if len(ts) else ():
        if ((ts >= s) & (ts < e)).any():
            return f"bars in [{s}, {e}) are not covered"
    have = set(ts.tolist())
    for s, e in before:
        want = set(range(s, e, 60))
        if not want <= have:
            return f"coverage [{s}, {e}) is missing {len(want - have)} bar(s)"
    return None


def grow(store: BarStore, node: str, windows: list[tuple[int, int]]) -> None:
    """Write each window's minute bars (covered) in turn: coverage only grows."""
    for s, e in windows:
        store.write(node, "1m", s, e, frame(minutes(s, e)))
