"""Dedup and roll-up: many input rows per bar into one bar per interval.

Rows identical in ``ts open high low close volume`` (and ``vwap`` when there
is one) are duplicates: the first is kept, the rest counted and dropped, and
the bar is flagged ``DEDUPED``.
Different rows in the same bar are samples, combined in time order (rows with
the same ``ts`` keep their input order): open=first, high=max, low=min,
close=last, volume=sum, vwap=sum(vwap * volume) / sum(volume) over the
samples that have a finite vwap (NaN when their volume is 0), and the bar is
flagged ``ROLLED_UP``. Per-row flags (e.g. ``OUT_OF_ORDER``) are or-ed into
their bar.

Time order rather than raw input order, so that a source sending newest-first
still gets open from the earliest sample and close from the latest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from seamless_sdk.conformance.engine.claims import winners
from seamless_sdk.conformance.spec.flags import FLAG_DTYPE, BarFlag


@dataclass(frozen=True)
class BarArrays:
    """Aligned per-bar (or per-row) columns: ``bar`` is the bar open in epoch seconds."""

    bar: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    flags: np.ndarray
    vwap: np.ndarray | None = None
    """Only when the source sent one (or it follows from the input, as for trades)."""

    def __len__(self) -> int:
        return len(self.bar)

    def take(self, index: np.ndarray) -> BarArrays:
        """The rows selected by an integer index or a boolean mask."""
        return BarArrays(
            self.bar[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
            self.flags[index],
            None if self.vwap is None else self.vwap[index],
        )

    def with_flags(self, flags: np.ndarray) -> BarArrays:
        """The same rows with another flags column."""
        return BarArrays(
            self.bar, self.open, self.high, self.low, self.close, self.volume, flags, self.vwap
        )


@dataclass(frozen=True)
class RollupOutcome:
    """One row per bar, ascending, plus what it took to get there.

    ``samples`` are the rows that went into the bars (time-sorted, without
    duplicates) and ``bar_index[i]`` is the position in ``bars`` of sample
    ``i``'s bar, so a verdict on a sample can be carried to its bar.
    """

    bars: BarArrays
    samples: BarArrays
    bar_index: np.ndarray
    duplicates: int
    rolled_up: int
    samples_merged: int
    superseded: int = 0


def is_one_row_per_bar(bar: np.ndarray) -> bool:
    """True when bars are strictly ascending: nothing to sort, dedup or roll up."""
    return bool(len(bar) < 2 or (bar[1:] > bar[:-1]).all())


def roll_up(
    ns: np.ndarray, rows: BarArrays, *, dedup: bool = True, rank: np.ndarray | None = None
) -> RollupOutcome:
    """Sort rows by time, drop duplicates and combine samples bar by bar.

    ``ns`` is each row's raw UTC time in epoch nanoseconds (it orders samples
    and is part of a row's identity); ``rows.bar`` is the bar it belongs to.
    ``dedup=False`` keeps identical rows: for trades, where two identical rows
    are two trades. ``rank`` (lower wins, see ``claims.py``) first narrows
    each bar down to its best-ranked rows; the others are ``superseded``.
    """
    order = np.argsort(ns, kind="stable")
    superseded = 0
    lost: np.ndarray | None = None
    if rank is not None:
        order, lost, superseded = _winning_order(rows.bar, rank, order)
    ns = ns[order]
    rows = rows.take(order)
    if lost is not None:
        rows = rows.with_flags(rows.flags | np.where(lost, FLAG_DTYPE(BarFlag.DEDUPED), 0))
    dup = _duplicates(ns, rows) if dedup and len(ns) else None
    flags = rows.flags
    if dup is not None:
        flags = flags.copy()
        flags[dup] |= FLAG_DTYPE(BarFlag.DEDUPED)
    all_starts = _group_starts(rows.bar)
    # Or-ed over every row, duplicates too: they leave DEDUPED on their bar.
    bar_flags = np.bitwise_or.reduceat(flags, all_starts) if len(flags) else flags.copy()
    kept = rows if dup is None else rows.take(~dup)
    starts = _group_starts(kept.bar)
    sizes = np.diff(np.append(starts, len(kept)))
    bar_index = np.repeat(np.arange(len(starts)), sizes)
    multi = sizes > 1
    bar_flags[multi] |= FLAG_DTYPE(BarFlag.ROLLED_UP)
    n_dup = 0 if dup is None else int(np.count_nonzero(dup))
    if not multi.any():
        bars = kept.with_flags(bar_flags)
        return RollupOutcome(bars, kept, bar_index, n_dup, 0, 0, superseded)
    ends = np.append(starts[1:], len(kept)) - 1
    bars = BarArrays(
        kept.bar[starts],
        kept.open[starts],
        np.maximum.reduceat(kept.high, starts),
        np.minimum.reduceat(kept.low, starts),
        kept.close[ends],
        np.add.reduceat(kept.volume, starts),
        bar_flags,
        None if kept.vwap is None else _vwap(kept.vwap, kept.volume, starts),
    )
    merged = int(sizes[multi].sum())
    rolled = int(np.count_nonzero(multi))
    return RollupOutcome(bars, kept, bar_index, n_dup, rolled, merged, superseded)


def _winning_order(
    bar: np.ndarray, rank: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, int]:
    """``order`` without the rows that lose their bar, which of the rest share a bar
    with a loser (they get ``DEDUPED``), and how many lost. One take of the rows
    follows instead of two."""
    sorted_bar = bar[order]
    starts = _group_starts(sorted_bar)
    won = winners(sorted_bar, rank[order], starts)
    if won is None:
        return order, None, 0
    sizes = np.diff(np.append(starts, len(won)))
    lost = np.repeat(~np.logical_and.reduceat(won, starts), sizes)[won]
    return order[won], lost, int(len(won) - np.count_nonzero(won))


def _vwap(vwap: np.ndarray, volume: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Volume-weighted mean of the samples' vwap per bar, NaN where no volume counts."""
    usable = np.isfinite(vwap) & np.isfinite(volume)
    weighted = np.add.reduceat(np.where(usable, vwap * volume, 0.0), starts)
    weights = np.add.reduceat(np.where(usable, volume, 0.0), starts)
    out = np.full(len(starts), np.nan)
    np.divide(weighted, weights, out=out, where=weights != 0)
    return out


def _group_starts(bar: np.ndarray) -> np.ndarray:
    if len(bar) == 0:
        return np.zeros(0, dtype=np.intp)
    return np.concatenate(([0], np.flatnonzero(bar[1:] != bar[:-1]) + 1))


def _duplicates(ns: np.ndarray, rows: BarArrays) -> np.ndarray | None:
    """Mask of rows identical to an earlier row (time-sorted input), or None."""
    same = ns[1:] == ns[:-1]
    if not same.any():
        return None  # identical rows share ts, so none can repeat
    candidate = np.zeros(len(ns), dtype=bool)
    candidate[1:] |= same
    candidate[:-1] |= same
    idx = np.flatnonzero(candidate)
    sub = pd.DataFrame(
        {
            "ns": ns[idx],
            "open": rows.open[idx],
            "high": rows.high[idx],
            "low": rows.low[idx],
            "close": rows.close[idx],
            "volume": rows.volume[idx],
        }
    )
    if rows.vwap is not None:
        sub["vwap"] = rows.vwap[idx]
    dup_sub = sub.duplicated(keep="first").to_numpy()
    if not dup_sub.any():
        return None
    dup = np.zeros(len(ns), dtype=bool)
    dup[idx[dup_sub]] = True
    return dup
