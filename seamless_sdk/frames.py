"""Bars as arrays, and the one place they become a DataFrame.

A read moves bars between the store, the cache and the answer many times;
pandas' per-column machinery costs more than the data on those paths. So the
engine carries :class:`Bars` (a ``(6, n)`` int64 block: row 0 is ``ts`` in
epoch nanoseconds, rows 1-5 the float64 bits of open high low close volume,
plus int32 ``flags``) and builds a DataFrame once, at the end, with a single copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.internals import create_dataframe_from_blocks

from seamless_sdk.bars import BAR_COLUMNS, NS, STORED_COLUMNS, UTC_NS
from seamless_sdk.ranges import RangeSet

_BAR_INDEX = pd.Index(list(BAR_COLUMNS))
_STORED_INDEX = pd.Index(list(STORED_COLUMNS))
_TS_PLACE = np.array([0])
_FLOAT_PLACE = np.arange(1, 6)
_FLAGS_PLACE = np.array([6])


@dataclass(frozen=True, slots=True)
class Bars:
    """Sorted bars of one series as arrays (see the module docstring).

    ``shared`` marks arrays someone else keeps too (the cache): a frame built
    from them must copy.
    """

    wide: np.ndarray
    flags: np.ndarray
    shared: bool = False

    @classmethod
    def empty(cls) -> Bars:
        return cls(np.empty((6, 0), np.int64), np.empty(0, np.int32))

    @classmethod
    def build(cls, ts_ns: np.ndarray, values: Sequence[np.ndarray], flags: np.ndarray) -> Bars:
        """New arrays (copies) from ``ts`` in epoch ns, the five value columns in
        ``open high low close volume`` order and ``flags``."""
        wide = np.empty((6, len(ts_ns)), np.int64)
        wide[0] = ts_ns
        floats = wide[1:].view(np.float64)
        for row, column in enumerate(values):
            floats[row] = column
        return cls(wide, np.array(flags, dtype=np.int32))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Bars:
        """From a stored bar frame (for stores that only return DataFrames)."""
        n = len(frame)
        wide = np.empty((6, n), np.int64)
        wide[0] = frame["ts"].array.asi8  # type: ignore[attr-defined]
        for j, column in enumerate(BAR_COLUMNS[1:], start=1):
            wide[j] = frame[column].to_numpy(np.float64).view(np.int64)
        return cls(wide, frame["flags"].to_numpy(np.int32))

    def __len__(self) -> int:
        return self.flags.shape[0]

    @property
    def ts_ns(self) -> np.ndarray:
        return self.wide[0]

    @property
    def ts_seconds(self) -> np.ndarray:
        """``ts`` as int64 epoch seconds (the block holds nanoseconds; bars are whole seconds)."""
        return self.wide[0] // NS

    @property
    def nbytes(self) -> int:
        return int(self.wide.nbytes + self.flags.nbytes)

    def rows_in(self, ranges: RangeSet) -> Bars:
        """The bars whose ``ts`` lies in ``ranges`` (views where possible)."""
        ts = self.wide[0]
        bounds = []
        for s, e in ranges:
            lo, hi = int(ts.searchsorted(s * NS)), int(ts.searchsorted(e * NS))
            if hi > lo:
                bounds.append((lo, hi))
        if not bounds:
            return Bars.empty()
        if len(bounds) == 1:
            lo, hi = bounds[0]
            if lo == 0 and hi == len(self):
                return self
            return Bars(self.wide[:, lo:hi], self.flags[lo:hi], self.shared)
        return Bars.concat([Bars(self.wide[:, lo:hi], self.flags[lo:hi]) for lo, hi in bounds])

    def as_shared(self) -> Bars:
        """The same arrays, marked as kept by someone else."""
        return Bars(self.wide, self.flags, True)

    def with_flags(self, mask: np.ndarray, bits: int) -> Bars:
        """A copy of the flags with ``bits`` set where ``mask`` is true."""
        flags = self.flags.copy()
        flags[mask] |= bits
        return Bars(self.wide, flags, self.shared)

    @staticmethod
    def concat(parts: Sequence[Bars]) -> Bars:
        """Parts one after another, then sorted by ``ts`` if they were not."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Bars.empty()
        if len(parts) == 1:
            return parts[0]
        wide = np.concatenate([p.wide for p in parts], axis=1)
        flags = np.concatenate([p.flags for p in parts])
        ts = wide[0]
        if not (ts[1:] > ts[:-1]).all():
            order = np.argsort(ts, kind="stable")
            wide, flags = wide[:, order], flags[order]
        return Bars(wide, flags)

    def to_frame(self, *, flags: bool = False) -> pd.DataFrame:
        """The DataFrame: ``ts open high low close volume`` (+ ``flags``).

        Shared arrays are copied, so a caller writing into the frame can never
        change a cached block; others are handed over as they are.
        """
        n = len(self)
        copy = self.shared
        wide = self.wide.copy() if copy else self.wide
        blocks = [
            (_utc_ns(wide[0]), _TS_PLACE),
            (wide[1:].view(np.float64), _FLOAT_PLACE),
        ]
        if flags:
            fl = self.flags.copy() if copy else self.flags
            blocks.append((fl.reshape(1, n), _FLAGS_PLACE))
        return create_dataframe_from_blocks(
            blocks, index=pd.RangeIndex(n), columns=_STORED_INDEX if flags else _BAR_INDEX
        )


def column_array(frame: pd.DataFrame, position: int) -> Any:
    """The values of ``frame``'s column at ``position`` (a numpy or extension
    array, not a copy). ``DataFrame._get_column_array`` is pandas' own accessor
    (1 µs against ~15 µs for ``frame[label]``, which builds a Series); pandas is
    pinned, and ``tests/unit/test_frames.py`` holds it to ``frame.iloc[:, i]``."""
    return frame._get_column_array(position)


FrameMaker = Callable[["Bars", Sequence[tuple[str, "Bars"]], bool], pd.DataFrame]
"""Builds a read's result frame from its bars, the pieces they came from and
whether lineage columns are wanted (:func:`assemble`, or a batch's deferral)."""


def assemble(bars: Bars, pieces: Sequence[tuple[str, Bars]], lineage: bool) -> pd.DataFrame:
    """The result frame of ``bars`` (``Bars.concat`` of the pieces' bars, which
    the caller has already made), with ``source`` (from the piece each row came
    from) and ``flags`` columns only with ``lineage``."""
    frame = bars.to_frame(flags=lineage)
    if lineage:
        frame.insert(6, "source", _sources(bars, pieces))
    return frame


def assemble_many(
    items: Sequence[tuple[Bars, Sequence[tuple[str, Bars]]]], lineage: bool
) -> list[pd.DataFrame]:
    """:func:`assemble` of many reads at once, for ``read_many``.

    The bars of every read are copied into one block (unless they already lie
    in blocks of a batch store read, which are used as they are); each frame
    then holds views of its own slice, its ``ts`` wrapped without pandas'
    validating constructor (:func:`_utc_ns`). The frames never share a row, so
    writing into one cannot change another.
    """
    if not items:
        return []
    sizes = [len(bars) for bars, _ in items]
    found = _blocks([bars for bars, _ in items])
    if found is None:
        wide = np.concatenate([bars.wide for bars, _ in items], axis=1)
        flags = np.concatenate([bars.flags for bars, _ in items])
        found = ([(wide, flags)], [(0, lo) for lo in np.cumsum([0, *sizes[:-1]]).tolist()])
    blocks, where = found
    frames: list[pd.DataFrame] = []
    for (bars, pieces), n, (k, lo) in zip(items, sizes, where, strict=True):
        wide, flags = blocks[k]
        hi = lo + n
        values = wide[1:, lo:hi].view(np.float64)
        held = [(_utc_ns(wide[0, lo:hi]), _TS_PLACE), (values, _FLOAT_PLACE)]
        if lineage:
            held.append((flags[lo:hi].reshape(1, n), _FLAGS_PLACE))
        frame = create_dataframe_from_blocks(
            held, index=pd.RangeIndex(n), columns=_STORED_INDEX if lineage else _BAR_INDEX
        )
        if lineage:
            frame.insert(6, "source", _sources(bars, pieces))
        frames.append(frame)
    return frames


def _utc_ns(ns: np.ndarray) -> Any:
    """``ns`` (int64 epoch nanoseconds) as a ``datetime64[ns, UTC]`` array that
    views it. ``pd.array`` validates every value again and costs more than the
    rest of a 1-day frame (measured 80 µs a frame on the busy machine, against 1
    µs); these values are checked ``ts`` (a store's, or bar opens the conformance
    pipeline computed), so pandas' own constructor
    for valid data, ``DatetimeArray._simple_new``, wraps them as they are. It is
    pandas-internal: where it is missing, the public constructor is used."""
    simple_new = getattr(pd.arrays.DatetimeArray, "_simple_new", None)
    if simple_new is None:
        return pd.array(ns, dtype=UTC_NS, copy=False)
    return simple_new(ns.view("M8[ns]"), dtype=UTC_NS)


def _blocks(
    parts: list[Bars],
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[int, int]]] | None:
    """When every non-empty part is an unshared slice of one of a few blocks
    (a batch store read, ``LocalStore.read_bars_many``), no two sharing a row:
    those blocks and, per part, its block and offset, so the frames view them
    without another copy. ``None`` otherwise (the parts are then concatenated)."""
    index: dict[int, int] = {}
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    where: list[tuple[int, int]] = []
    spans: list[tuple[int, int, int]] = []
    for p in parts:
        if not len(p):
            where.append((0, 0))
            continue
        wide, flags = p.wide.base, p.flags.base
        if p.shared or not isinstance(wide, np.ndarray) or not isinstance(flags, np.ndarray):
            return None
        k = index.get(id(wide))
        if k is None:
            if wide.shape[0] != 6 or wide.strides != (8 * wide.shape[1], 8):
                return None
            if flags.ndim != 1 or flags.strides != (4,):
                return None
            k = index[id(wide)] = len(blocks)
            blocks.append((wide, flags))
        elif blocks[k][1] is not flags:
            return None
        if p.wide.strides != wide.strides or p.flags.strides != (4,):
            return None
        if p.wide.shape == wide.shape and p.flags.shape == flags.shape:
            lo = 0  # the whole block (a series alone in it): no address arithmetic
        else:
            lo = (p.wide.ctypes.data - wide.ctypes.data) // 8
            if (p.flags.ctypes.data - flags.ctypes.data) // 4 != lo:
                return None  # flags and values of different rows
        where.append((k, lo))
        spans.append((k, lo, lo + len(p)))
    if not blocks:
        return None
    spans.sort()
    if any(a[0] == b[0] and a[2] > b[1] for a, b in pairwise(spans)):
        return None  # two parts share rows: their frames must not
    return blocks, where


def _sources(bars: Bars, pieces: Sequence[tuple[str, Bars]]) -> Any:
    """The ``source`` column: the name of the piece each row of ``bars`` came from."""
    pieces = [(src, b) for src, b in pieces if len(b)]
    names = list(dict.fromkeys(src for src, _ in pieces)) or [""]
    if len(pieces) > 1:
        codes = np.concatenate([np.full(len(b), names.index(src), np.int8) for src, b in pieces])
        order = np.argsort(np.concatenate([b.ts_ns for _, b in pieces]), kind="stable")
        return _labels(codes[order], names)
    return _labels(np.zeros(len(bars), np.int8), names)


_STR = pd.array([], dtype="str").dtype
"""pandas' string dtype (``"str"``), whose values ``source`` holds."""


def _labels(codes: np.ndarray, names: list[str]) -> Any:
    """``names[codes]`` as an array of :data:`_STR`. With Arrow storage (pandas'
    default when pyarrow is installed, as here) Arrow expands the names in C
    (6 ms for a year of 1m bars); through a Python string per row it took 60 ms,
    on every lineage read."""
    if getattr(_STR, "storage", None) == "pyarrow":
        dictionary = pa.DictionaryArray.from_arrays(
            pa.array(codes), pa.array(names, type=pa.large_string())
        )
        return pd.array(pc.cast(dictionary, pa.large_string()), dtype=_STR)
    return pd.array(np.asarray(names, dtype=object)[codes], dtype=_STR)
