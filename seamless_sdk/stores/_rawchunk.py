"""Raw column chunks: the bytes PostgresStore keeps per chunk, and the way back.

A chunk of ``n`` bars is ``52 * n`` bytes, every value little-endian::

    ts      int64 epoch nanoseconds   bytes [0,      8n)
    open    float64 (IEEE 754 bits)   bytes [8n,    16n)
    high    float64                   bytes [16n,   24n)
    low     float64                   bytes [24n,   32n)
    close   float64                   bytes [32n,   40n)
    volume  float64                   bytes [40n,   48n)
    flags   int32                     bytes [48n,   52n)

That is exactly the read engine's ``(6, n)`` int64 block followed by its
flags (``seamless_sdk.frames.Bars``), so a read copies each chunk's rows into
the answer with one 2-D slice assignment and no parsing, and the format is
simple enough to unpack in plain SQL (``_pg_sql``: ``bars`` view).
"""

from __future__ import annotations

import numpy as np

from seamless_sdk.frames import Bars
from seamless_sdk.stores._arrow import Columns, ts_problem

ROW_BYTES = 52
_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")
_I4 = np.dtype("<i4")


def encode(cols: Columns) -> bytes:
    """The chunk bytes of ``cols`` (equal rows give equal bytes)."""
    n = len(cols)
    out = bytearray(ROW_BYTES * n)
    wide = np.ndarray((6, n), _I8, out)
    wide[0] = cols.ts
    for j, values in enumerate(cols.values, start=1):
        wide[j] = np.asarray(values, _F8).view(_I8)
    np.ndarray((n,), _I4, out, 48 * n)[:] = cols.flags
    return bytes(out)


def problem(data: bytes | memoryview, nrows: object, lo_ns: int, hi_ns: int) -> str | None:
    """What is wrong with a stored chunk (``None``: nothing): its size must match
    ``nrows`` and its ``ts`` ascend strictly inside ``[lo_ns, hi_ns)``."""
    if not isinstance(data, bytes | bytearray | memoryview) or not isinstance(nrows, int):
        return "the row holds values of the wrong type"
    if nrows <= 0 or len(data) != ROW_BYTES * nrows:
        return f"holds {len(data)} bytes, {nrows} rows need {ROW_BYTES * nrows}"
    return ts_problem(np.ndarray((nrows,), _I8, data), lo_ns, hi_ns)


def decode(data: bytes | memoryview, nrows: int) -> Columns:
    """Read-only views of a chunk's columns (zero copy; they keep ``data`` alive)."""
    wide = np.ndarray((6, nrows), _I8, data)
    return Columns(
        wide[0],
        tuple(wide[j].view(_F8) for j in range(1, 6)),
        np.ndarray((nrows,), _I4, data, 48 * nrows),
    )


class BarsBuilder:
    """Copies the rows in ``[start_ns, end_ns)`` of consecutive chunks (in time
    order) into one ``Bars`` block, checking them on the way.

    The checks cost almost nothing: each chunk's size and first and last
    ``ts`` (inside its window) when it is added, the whole of a chunk that the
    read cuts (its ``ts`` is searched, so it must be sorted), and one pass over
    the answer's ``ts`` at the end (strictly ascending across every chunk).
    """

    __slots__ = ("_end", "_flags", "_offsets", "_start", "_wide", "n")

    def __init__(self, capacity: int, start_ns: int, end_ns: int) -> None:
        self._wide = np.empty((6, capacity), np.int64)
        self._flags = np.empty(capacity, np.int32)
        self._start = start_ns
        self._end = end_ns
        self._offsets: list[int] = []
        self.n = 0

    def add(self, data: bytes | memoryview, nrows: int, lo_ns: int, hi_ns: int) -> str | None:
        """Append the rows of one chunk (window ``[lo_ns, hi_ns)``) that fall
        inside the read; return what is wrong with the chunk instead, if anything."""
        if not isinstance(nrows, int) or nrows <= 0 or len(data) != ROW_BYTES * nrows:
            return problem(data, nrows, lo_ns, hi_ns)
        src = np.ndarray((6, nrows), _I8, data)
        ts = src[0]
        first, last = int(ts[0]), int(ts[-1])
        if first < lo_ns or last >= hi_ns:
            return f"ts runs from {first} to {last} ns, outside its window [{lo_ns}, {hi_ns}) ns"
        lo, hi = 0, nrows
        if first < self._start or last >= self._end:
            bad = ts_problem(ts, lo_ns, hi_ns)
            if bad is not None:
                return bad
            lo = 0 if first >= self._start else int(ts.searchsorted(self._start))
            hi = nrows if last < self._end else int(ts.searchsorted(self._end))
        o, k = self.n, hi - lo
        self._offsets.append(o)
        if k > 0:
            self._wide[:, o : o + k] = src[:, lo:hi]
            self._flags[o : o + k] = np.ndarray((nrows,), _I4, data, 48 * nrows)[lo:hi]
            self.n = o + k
        return None

    def unsorted_chunk(self) -> int | None:
        """Index (in the order added) of the first chunk whose rows are not
        strictly ascending, or ``None``: the answer is sound."""
        ts = self._wide[0, : self.n]
        if self.n < 2:
            return None
        step = ts[1:] > ts[:-1]
        if step.all():
            return None
        # Chunks are disjoint windows in time order, so a descent lies inside one.
        return int(np.searchsorted(self._offsets, int(step.argmin()), side="right")) - 1

    def bars(self) -> Bars:
        """The rows added so far (copied out when the edges cut most of them away,
        so the answer does not pin unused capacity)."""
        n = self.n
        if n < self._flags.shape[0] // 2:
            return Bars(self._wide[:, :n].copy(), self._flags[:n].copy())
        return Bars(self._wide[:, :n], self._flags[:n])
