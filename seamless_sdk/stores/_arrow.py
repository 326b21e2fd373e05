"""Arrow IPC chunks: the bytes LocalStore keeps per chunk, and the fast way back.

A chunk is one Arrow IPC *stream* (schema message, one record batch, end
marker) of the stored bar frame's rows, with ``ts`` as ``timestamp[ns, UTC]``
so that reading needs no conversion. Any Arrow reader can open a chunk.

Reading is the hot path. Decoding a record batch with pyarrow and asking each
column for its buffer costs tens of microseconds per chunk, which dominates a
30-chunk read. But the IPC metadata (everything before the batch body)
determines exactly where each column's bytes sit in the body, so the offsets
that pyarrow finds for one blob hold for every blob with the same metadata
bytes. :func:`layout_of` parses a blob with pyarrow once per distinct metadata
and afterwards maps blobs straight onto numpy views by offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from seamless_sdk.bars import NS, STORED_COLUMNS, UTC_NS, VALUE_COLUMNS
from seamless_sdk.conformance.spec.rules import breaking_rows
from seamless_sdk.errors import StoreError
from seamless_sdk.frames import Bars

TS_TYPE = pa.timestamp("ns", tz="UTC")
SCHEMA = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        *(pa.field(c, pa.float64(), nullable=False) for c in STORED_COLUMNS[1:-1]),
        pa.field("flags", pa.int32(), nullable=False),
    ]
)
_LAYOUT_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Columns:
    """A chunk's rows as numpy arrays: ``ts`` in int64 epoch nanoseconds, the five
    float64 bar columns in ``STORED_COLUMNS`` order, and int32 ``flags``."""

    ts: np.ndarray
    values: tuple[np.ndarray, ...]
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, keep: np.ndarray | slice) -> Columns:
        """The rows selected by a boolean mask or a slice."""
        return Columns(self.ts[keep], tuple(v[keep] for v in self.values), self.flags[keep])

    @staticmethod
    def concat(parts: list[Columns]) -> Columns:
        """Rows of ``parts`` one after another (the caller keeps them sorted)."""
        return Columns(
            np.concatenate([p.ts for p in parts]),
            tuple(np.concatenate([p.values[j] for p in parts]) for j in range(5)),
            np.concatenate([p.flags for p in parts]),
        )


class Layout(NamedTuple):
    """Where a chunk's columns sit inside its blob."""

    rows: int
    offsets: tuple[int, ...]  # byte offset of each column's data buffer, STORED_COLUMNS order
    stride: int  # distance between the six 8-byte columns when even, else 0
    size: int  # bytes a blob needs to hold every column


_layouts: dict[bytes, Layout] = {}


def encode(cols: Columns) -> bytes:
    """Serialise rows as an Arrow IPC stream; equal rows give equal bytes.

    The bytes are pyarrow's (:func:`encode_with_pyarrow`), but only the first
    chunk of each row count is encoded by pyarrow: an IPC stream's metadata
    depends on the row count alone (no nulls, no compression), so later chunks
    copy that template and put their column bytes where the template's are.
    Writing a day of 15m bars cost about 0.1 ms in pyarrow's writer, more than
    the rest of the chunk's write.
    """
    blob, offsets = _template(len(cols))
    if not offsets:
        return blob  # no rows: the template is the stream
    out = bytearray(blob)
    view = memoryview(out)
    columns = (cols.ts, *cols.values, cols.flags)
    for offset, column, dtype in zip(offsets, columns, _DTYPES, strict=True):
        data = np.ascontiguousarray(column, dtype=dtype).view(np.uint8)
        view[offset : offset + data.nbytes] = data
    return bytes(out)


def encode_with_pyarrow(cols: Columns) -> bytes:
    """:func:`encode` by pyarrow's IPC writer (the reference it is tested against)."""
    arrays = [
        pa.array(cols.ts, type=pa.int64()).view(TS_TYPE),
        *(pa.array(v, type=pa.float64()) for v in cols.values),
        pa.array(cols.flags, type=pa.int32()),
    ]
    batch = pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, SCHEMA) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


_templates: dict[int, tuple[bytes, tuple[int, ...]]] = {}
_DTYPES = (np.dtype(np.int64), *(np.dtype(np.float64),) * 5, np.dtype(np.int32))


def _template(rows: int) -> tuple[bytes, tuple[int, ...]]:
    """pyarrow's stream of ``rows`` zero rows and where each column's data sits in it."""
    found = _templates.get(rows)
    if found is None:
        zeros = np.zeros(rows, np.int64)
        blob = encode_with_pyarrow(
            Columns(zeros, (zeros.view(np.float64),) * 5, np.zeros(rows, np.int32))
        )
        found = (blob, _parse_layout(blob).offsets if rows else ())
        if len(_templates) >= _LAYOUT_CACHE_MAX:
            _templates.clear()
        _templates[rows] = found
    return found


def _metadata_end(blob: bytes) -> int:
    # A stream is: schema message, then the batch message. Each message is a
    # 0xFFFFFFFF marker, an int32 metadata length and the metadata; the schema
    # message has no body, so the batch body starts right after its metadata.
    pos = 0
    for _ in range(2):
        length = int.from_bytes(blob[pos + 4 : pos + 8], "little", signed=True)
        if length < 0 or len(blob) < pos + 8 + length:
            raise StoreError("chunk: not an Arrow IPC stream, or a truncated one")
        pos += 8 + length
    return pos


def _parse_layout(blob: bytes) -> Layout:
    buf = pa.py_buffer(blob)
    try:
        batch = pa.ipc.open_stream(buf).read_next_batch()
    except (pa.ArrowException, OSError, ValueError, StopIteration) as exc:
        raise StoreError(f"chunk: not a readable Arrow IPC stream ({exc})") from exc
    if not batch.schema.equals(SCHEMA):
        raise StoreError(f"chunk: unexpected schema {batch.schema}")
    rows = batch.num_rows
    if rows == 0:
        return Layout(0, (0,) * len(SCHEMA), 0, 0)
    offsets, size = [], 0
    for column in batch.columns:
        if column.null_count or column.offset:
            raise StoreError("chunk: columns with nulls or offsets are not stored bar chunks")
        data = column.buffers()[1]
        offset = data.address - buf.address
        if not 0 <= offset <= len(blob) - data.size:
            raise StoreError("chunk: a column buffer lies outside the blob")
        offsets.append(offset)
        size = max(size, offset + column.type.byte_width * rows)
    gaps = {offsets[j + 1] - offsets[j] for j in range(5)}
    stride = gaps.pop() if len(gaps) == 1 else 0
    return Layout(rows, tuple(offsets), stride if stride >= 8 * rows else 0, size)


def layout_of(blob: bytes) -> Layout:
    """The column offsets of ``blob``, parsed by pyarrow once per distinct metadata."""
    key = blob[: _metadata_end(blob)]
    layout = _layouts.get(key)
    if layout is None:
        layout = _parse_layout(blob)
        if len(_layouts) >= _LAYOUT_CACHE_MAX:
            _layouts.clear()
        _layouts[key] = layout
    elif len(blob) < layout.size:
        raise StoreError("chunk: truncated Arrow IPC stream")
    return layout


def decode(blob: bytes) -> Columns:
    """Read-only numpy views of a chunk's columns (zero copy; they keep ``blob`` alive)."""
    lay = layout_of(blob)
    n, off = lay.rows, lay.offsets
    return Columns(
        np.ndarray((n,), np.int64, blob, off[0]),
        tuple(np.ndarray((n,), np.float64, blob, off[j]) for j in range(1, 6)),
        np.ndarray((n,), np.int32, blob, off[6]),
    )


def ts_problem(ts: np.ndarray, lo_ns: int, hi_ns: int) -> str | None:
    """What is wrong with the ``ts`` of a chunk of bars, or ``None``: it has
    rows, strictly ascending, all inside its window ``[lo_ns, hi_ns)``.

    One pass over ``ts``; the bounds are Python ints, so a window past int64
    (the year chunk of 2262) compares correctly."""
    if len(ts) == 0:
        return "holds no rows"
    first, last = int(ts[0]), int(ts[-1])
    if first < lo_ns or last >= hi_ns:
        return f"ts runs from {first} to {last} ns, outside its window [{lo_ns}, {hi_ns}) ns"
    if len(ts) > 1 and not (ts[1:] > ts[:-1]).all():
        return "ts is not strictly ascending"
    return None


class FrameBuilder:
    """Copies the rows of consecutive chunks that fall in ``[start_ns, end_ns)``
    into one contiguous block per dtype, then wraps them as a DataFrame.

    ``ts`` and the five float columns share one ``(6, capacity)`` int64 block
    (float bits are copied as int64), so a chunk costs one 2-D copy plus one
    copy of ``flags``. ``capacity`` must be at least the rows of all chunks.
    """

    __slots__ = ("_end", "_flags", "_start", "_wide", "n")

    def __init__(self, capacity: int, start_ns: int, end_ns: int) -> None:
        self._wide = np.empty((6, capacity), np.int64)
        self._flags = np.empty(capacity, np.int32)
        self._start = start_ns
        self._end = end_ns
        self.n = 0

    def add(self, blob: bytes, nrows: int, chunk_lo_ns: int, chunk_hi_ns: int) -> None:
        """Append the rows of one chunk (chunks must come in time order).

        ``nrows`` is the row count stored beside the blob and ``[chunk_lo_ns,
        chunk_hi_ns)`` the chunk's window: a blob that disagrees with them
        raises ``StoreError`` (it is damaged, whatever its checksum says)
        before any row is copied. Order is checked once, over every copied
        row, by :meth:`bars`.
        """
        lay = layout_of(blob)
        rows, off = lay.rows, lay.offsets
        if rows != nrows:
            raise StoreError(f"chunk: holds {rows} rows, its row count says {nrows}")
        if rows == 0:
            return  # a covered window without bars
        ts = np.ndarray((rows,), np.int64, blob, off[0])
        # Python ints on both sides: a chunk window may pass int64 (year 2262).
        if int(ts[0]) < chunk_lo_ns or int(ts[-1]) >= chunk_hi_ns:
            raise StoreError(
                f"chunk: ts runs from {int(ts[0])} to {int(ts[-1])} ns, outside its window"
            )
        lo = 0 if ts[0] >= self._start else int(ts.searchsorted(self._start))
        hi = rows if ts[-1] < self._end else int(ts.searchsorted(self._end))
        k = hi - lo
        if k <= 0:
            return
        o = self.n
        if o + k > self._flags.shape[0]:
            raise StoreError("chunk: holds more rows than its row count says")
        if lay.stride:
            src = np.ndarray((6, rows), np.int64, blob, off[0], (lay.stride, 8))
            self._wide[:, o : o + k] = src[:, lo:hi]
        else:
            for j in range(6):
                self._wide[j, o : o + k] = np.ndarray((rows,), np.int64, blob, off[j])[lo:hi]
        self._flags[o : o + k] = np.ndarray((rows,), np.int32, blob, off[6])[lo:hi]
        self.n = o + k

    def bars(self) -> Bars:
        """The rows added so far as arrays (no copy unless mostly empty).

        ``StoreError`` if their ``ts`` is not strictly ascending inside
        ``[start_ns, end_ns)``: one pass over the rows about to be returned,
        so invariant 4 holds whatever the bytes were."""
        n = self.n
        wide, flags = self._wide, self._flags
        if not self._ordered(wide[0, :n]):
            raise StoreError("chunk: ts is not strictly ascending inside the read's window")
        if n < flags.shape[0] // 2:
            # Edge chunks were mostly cut away: don't pin the unused capacity.
            return Bars(wide[:, :n].copy(), flags[:n].copy())
        return Bars(wide[:, :n], flags[:n])

    def bad_series(self, cuts: list[int]) -> int | None:
        """For rows added as consecutive series (a batch read; the ``i``-th
        series ends at row ``cuts[i]``, the last cut being ``n``): the index of
        the first series whose ``ts`` is not strictly ascending inside
        ``[start_ns, end_ns)``, or ``None``. The check :meth:`bars` makes of one
        series, still one pass over the rows."""
        ts = self._wide[0, : self.n]
        if len(cuts) == 1:  # one series (a universe of long series): the check of bars()
            return None if self._ordered(ts) else 0
        bounds = list(zip([0, *cuts[:-1]], cuts, strict=True))
        filled = [(lo, hi) for lo, hi in bounds if hi > lo]
        if not filled:
            return None
        step = ts[1:] > ts[:-1]
        # Where one series ends and the next begins, time starts over.
        step[[lo - 1 for lo, _ in filled if lo > 0]] = True
        firsts, lasts = ts[[lo for lo, _ in filled]], ts[[hi - 1 for _, hi in filled]]
        if int(firsts.min()) >= self._start and int(lasts.max()) < self._end and step.all():
            return None
        for i, (lo, hi) in enumerate(bounds):
            if not self._ordered(ts[lo:hi]):
                return i
        return None  # unreachable: some series failed above

    def _ordered(self, ts: np.ndarray) -> bool:
        """Whether ``ts`` (one series) is strictly ascending inside ``[start_ns,
        end_ns)``; an empty series is. Python ints at the ends: int64 bounds."""
        return not len(ts) or (
            int(ts[0]) >= self._start and int(ts[-1]) < self._end and bool((ts[1:] > ts[:-1]).all())
        )

    def split(self, cuts: list[int]) -> list[Bars]:
        """The rows added so far as consecutive series (see :meth:`bad_series`,
        which the caller checks first): views of one block, copied out when
        mostly empty as in :meth:`bars`."""
        n = self.n
        wide, flags = self._wide[:, :n], self._flags[:n]
        if n < self._flags.shape[0] // 2:
            wide, flags = wide.copy(), flags.copy()
        return [
            Bars(wide[:, lo:hi], flags[lo:hi]) for lo, hi in zip([0, *cuts[:-1]], cuts, strict=True)
        ]

    def frame(self) -> pd.DataFrame:
        """The stored bar frame of the rows added so far."""
        return self.bars().to_frame(flags=True)


def _fail(problem: str) -> StoreError:
    return StoreError(f"frame: {problem}; nothing was written")


def columns_from_frame(frame: pd.DataFrame, interval_s: int, start: int, end: int) -> Columns:
    """Check that ``frame`` is a stored bar frame whose rows lie in ``[start, end)``
    on the interval's grid and keep every quality rule (``conformance/spec/rules.py``),
    and return its columns; raise ``StoreError`` if not."""
    if not isinstance(frame, pd.DataFrame):
        raise _fail(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if list(frame.columns) != list(STORED_COLUMNS):
        raise _fail(f"columns must be {list(STORED_COLUMNS)}, got {list(frame.columns)}")
    dtypes = frame.dtypes
    if dtypes.iloc[0] != UTC_NS:
        raise _fail(f"ts must be datetime64[ns, UTC], got {dtypes.iloc[0]}")
    for name in STORED_COLUMNS[1:-1]:
        if not isinstance(dtypes[name], np.dtype) or dtypes[name] != np.float64:
            raise _fail(f"{name} must be float64, got {dtypes[name]}")
    if not isinstance(dtypes.iloc[-1], np.dtype) or dtypes.iloc[-1] != np.int32:
        raise _fail(f"flags must be int32, got {dtypes.iloc[-1]}")
    ts = frame["ts"].to_numpy(dtype="int64")
    values = tuple(frame[name].to_numpy() for name in VALUE_COLUMNS)
    return _checked(Columns(ts, values, frame["flags"].to_numpy()), interval_s, start, end)


def columns_from_bars(bars: Bars, interval_s: int, start: int, end: int) -> Columns:
    """:func:`columns_from_frame` for bars already held as arrays (a conformed
    window, ``ConformanceResult.bars``): the same row checks, without pandas."""
    wide, flags = bars.wide, bars.flags
    if wide.dtype != np.int64 or wide.ndim != 2 or wide.shape[0] != 6:
        raise _fail(f"bars must be a (6, n) int64 block, got {wide.dtype} {wide.shape}")
    if flags.dtype != np.int32 or flags.shape != (wide.shape[1],):
        raise _fail(f"flags must be {wide.shape[1]} int32 values, got {flags.dtype} {flags.shape}")
    values = tuple(wide[1:].view(np.float64))
    return _checked(Columns(wide[0], values, flags), interval_s, start, end)


def _checked(cols: Columns, interval_s: int, start: int, end: int) -> Columns:
    ts = cols.ts
    if len(ts):
        step = np.diff(ts)
        if (step == 0).any():
            raise _fail(f"ts has duplicates, e.g. {pd.Timestamp(ts[1:][step == 0][0], tz='UTC')}")
        if (step < 0).any():
            raise _fail("ts is not ascending")
        if ts[0] < start * NS or ts[-1] >= end * NS:
            raise _fail(f"rows outside the window [{start}, {end})")
        if (ts % (interval_s * NS)).any():
            raise _fail(f"ts not aligned to the {interval_s}s interval")
    _check_rules(ts, cols.values)
    return cols


def _check_rules(ts: np.ndarray, values: tuple[np.ndarray, ...]) -> None:
    # The same table the conformance pipeline rejects bars by: whatever reaches
    # a store by another path (a hand-built frame, a bug) still cannot hold a
    # bar the pipeline would have refused.
    for rule, broken in breaking_rows(dict(zip(VALUE_COLUMNS, values, strict=True))).items():
        if broken.any():
            first = pd.Timestamp(int(ts[broken.argmax()]), tz="UTC")
            raise _fail(f"{int(broken.sum())} row(s) break {rule}, e.g. the bar at {first}")
