"""LocalStore: the embedded bar store, one SQLite file of Arrow chunks.

Bars of a ``(node_id, interval)`` are kept in chunks aligned to the interval's
calendar chunk windows (``seamless_sdk.intervals``); each chunk is one SQLite
row holding an Arrow IPC stream (``seamless_sdk.stores._arrow``), and coverage
lives in a table beside them (``seamless_sdk.stores._sqlite``). A write changes
the touched chunks and the coverage in one ``BEGIN IMMEDIATE`` transaction, so
readers, in this process or another, see all of it or none of it.

Reads keep one connection per thread open for the store's lifetime and copy
the needed rows straight from the blobs into one block per dtype.

>>> store = LocalStore(tmp_path / "bars.sqlite")             # doctest: +SKIP
>>> store.write("demo:BTC", parse_interval("1m"), 0, 86400, frame)  # doctest: +SKIP
>>> store.read("demo:BTC", parse_interval("1m"), 0, 3600)    # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import Interval, chunk_windows, parse_interval, window_next
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id
from seamless_sdk.stores import _sqlite
from seamless_sdk.stores._arrow import Columns, FrameBuilder, columns_from_frame, decode, encode

_NS = 1_000_000_000
_LOCK_POLL_S = 0.005


class LocalStore:
    """The embedded :class:`~seamless_sdk.stores.base.BarStore`: a SQLite file in
    WAL mode at ``path`` (parent directories are created) whose rows are Arrow
    chunks, plus lock files under the sibling directory ``<path>.locks/``.

    Safe to share between threads; any number of processes may open the same
    file, and their writes queue (up to a minute) instead of failing. Pickling
    a store pickles its path, so it can be handed to worker processes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock_dir = self._path.with_name(self._path.name + ".locks")
        self._pool = _sqlite.ConnectionPool(self._path)
        self._conn = self._pool.get
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            _sqlite.initialise(self._conn())
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise StoreError(f"cannot open the store at {self._path}: {exc}") from exc

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        """Close every connection this store opened, from any thread. Using the
        store afterwards raises ``StoreError``; closing twice is harmless."""
        self._pool.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (type(self), (str(self._path),))

    def __repr__(self) -> str:
        return f"LocalStore({str(self._path)!r}{', closed' if self._pool.closed else ''})"

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    # -- reads ----------------------------------------------------------------
    def read(self, node_id: str, interval: Interval | str, start: int, end: int) -> pd.DataFrame:
        """Stored bars with ``start <= ts < end`` as a stored bar frame (a new
        frame the caller owns; empty, with the right dtypes, if there are none)."""
        return self.read_bars(node_id, interval, start, end).to_frame(flags=True)

    def read_bars(self, node_id: str, interval: Interval | str, start: int, end: int) -> Bars:
        """``read`` as arrays, for the SDK's hot path (no DataFrame built)."""
        iv = parse_interval(interval)
        conn = self._conn()
        start, end = int(start), int(end)  # numpy ints do not bind as SQL parameters
        if end <= start:
            return Bars.empty()
        params = (node_id, iv.seconds, chunk_of(iv, start), end)
        builder = None
        try:
            cursor = conn.execute(_sqlite.READ_SQL, params)
            try:
                for total, blob in cursor:
                    if builder is None:
                        builder = FrameBuilder(total, start * _NS, end * _NS)
                    builder.add(blob)
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise StoreError(f"read of {node_id} {iv.name} failed: {exc}") from exc
        return Bars.empty() if builder is None else builder.bars()

    def coverage(self, node_id: str, interval: Interval | str) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that have been checked and stored."""
        iv = parse_interval(interval)
        try:
            return _sqlite.load_coverage(self._conn(), node_id, iv.seconds)
        except sqlite3.Error as exc:
            raise StoreError(f"coverage of {node_id} {iv.name} failed: {exc}") from exc

    def series(self) -> list[tuple[str, str]]:
        """Every ``(node_id, interval name)`` that has coverage, sorted."""
        try:
            return [(str(n), str(i)) for n, i in self._conn().execute(_sqlite.SERIES_SQL)]
        except sqlite3.Error as exc:
            raise StoreError(f"listing series failed: {exc}") from exc

    # -- writes ---------------------------------------------------------------
    def write(
        self,
        node_id: str,
        interval: Interval | str,
        start: int,
        end: int,
        frame: pd.DataFrame,
        covered: RangeSet | None = None,
    ) -> None:
        """Atomically replace the bars in ``[start, end)`` with ``frame`` and add
        ``covered`` (default: the whole window) to coverage.

        ``frame`` must be a stored bar frame whose rows lie in ``[start, end)``
        on the interval's grid, and every row must end up covered (by
        ``covered`` or by coverage already stored). Otherwise ``StoreError`` (bad
        frame) or ``InvalidRequestError`` (bad bounds) is raised and nothing
        changes. Repeating a write leaves identical bytes.
        """
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        start, end = _check_bounds(iv, start, end)
        cover = RangeSet.span(start, end) if covered is None else covered
        if not isinstance(cover, RangeSet):
            raise InvalidRequestError("covered", f"expected a RangeSet, got {type(cover).__name__}")
        if cover.start is not None and (cover.start < start or cover.end > end):  # type: ignore[operator]
            raise InvalidRequestError("covered", f"{cover} is not inside [{start}, {end})")
        _check_aligned(iv, cover, "covered")
        cols = columns_from_frame(frame, iv.seconds, start, end)
        conn = self._conn()
        try:
            with _sqlite.immediate(conn):
                old = _sqlite.load_coverage(conn, node_id, iv.seconds)
                new = old.union(cover)
                _check_rows_covered(cols.ts, new.clip(start, end))
                for ws, we in chunk_windows(iv, start, end):
                    self._replace_rows(conn, node_id, iv, ws, we, cols)
                if new != old:
                    _sqlite.save_coverage(conn, node_id, iv.seconds, iv.name, old, new)
        except sqlite3.Error as exc:
            raise StoreError(f"write of {node_id} {iv.name} failed: {exc}") from exc

    def _replace_rows(
        self, conn: sqlite3.Connection, node_id: str, iv: Interval, ws: int, we: int, cols: Columns
    ) -> None:
        # [ws, we) lies inside one chunk; keep that chunk's rows outside it.
        cs = chunk_of(iv, ws)
        lo, hi = np.searchsorted(cols.ts, [ws * _NS, we * _NS])
        rows = cols.take(slice(lo, hi))
        if ws != cs or we != window_next(cs, iv.chunk_unit):
            row = conn.execute(_sqlite.CHUNK_SQL, (node_id, iv.seconds, cs)).fetchone()
            if row is not None:
                kept = decode(row[0])
                a, b = np.searchsorted(kept.ts, [ws * _NS, we * _NS])
                rows = Columns.concat([kept.take(slice(0, a)), rows, kept.take(slice(b, None))])
        self._put_chunk(conn, node_id, iv, cs, rows)

    def _put_chunk(
        self, conn: sqlite3.Connection, node_id: str, iv: Interval, cs: int, rows: Columns
    ) -> None:
        if len(rows):
            blob = encode(rows)
            conn.execute(_sqlite.UPSERT_SQL, (node_id, iv.seconds, cs, len(rows), memoryview(blob)))
        else:
            conn.execute(_sqlite.DELETE_SQL, (node_id, iv.seconds, cs))

    def remove_coverage(self, node_id: str, interval: Interval | str, ranges: RangeSet) -> None:
        """Forget coverage in ``ranges`` and delete the bars inside them, in one
        transaction (used to repair drift)."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        if not isinstance(ranges, RangeSet):
            raise InvalidRequestError("ranges", f"expected a RangeSet, got {type(ranges).__name__}")
        _check_aligned(iv, ranges, "ranges")
        if not ranges:
            return
        conn = self._conn()
        try:
            with _sqlite.immediate(conn):
                starts: set[int] = set()
                for s, e in ranges:
                    params = (node_id, iv.seconds, chunk_of(iv, s), e)
                    starts.update(r[0] for r in conn.execute(_sqlite.CHUNK_STARTS_SQL, params))
                for cs in sorted(starts):
                    blob = conn.execute(_sqlite.CHUNK_SQL, (node_id, iv.seconds, cs)).fetchone()[0]
                    rows = decode(blob)
                    drop = ranges.clip(cs, window_next(cs, iv.chunk_unit))
                    if drop:
                        self._put_chunk(conn, node_id, iv, cs, rows.take(~_inside(rows.ts, drop)))
                old = _sqlite.load_coverage(conn, node_id, iv.seconds)
                new = old.subtract(ranges)
                if new != old:
                    _sqlite.save_coverage(conn, node_id, iv.seconds, iv.name, old, new)
        except sqlite3.Error as exc:
            raise StoreError(f"remove_coverage of {node_id} {iv.name} failed: {exc}") from exc

    # -- locks ----------------------------------------------------------------
    @contextmanager
    def window_lock(
        self,
        node_id: str,
        interval: Interval | str,
        chunk_start: int,
        *,
        timeout: float | None = None,
    ) -> Iterator[None]:
        """An exclusive lock on one chunk, held across threads and processes.

        ``flock`` on a freshly opened lock file under ``<path>.locks/``, named by a
        hash of the key: two opens conflict even in one process, and the kernel
        drops the lock when the holder dies. Not re-entrant. With ``timeout``
        (seconds) a lock not had in time raises ``StoreError``.
        """
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        if chunk_of(iv, chunk_start) != chunk_start:
            raise InvalidRequestError(
                "chunk_start", f"{chunk_start} is not the start of a {iv.chunk_unit} chunk"
            )
        if self._pool.closed:
            raise StoreError(f"the store at {self._path} is closed")
        key = f"{node_id}\0{iv.seconds}\0{chunk_start}".encode()
        digest = hashlib.sha256(key).hexdigest()[:40]
        folder = self._lock_dir / digest[:2]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / f"{digest}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the lock file for {node_id}: {exc}") from exc
        try:
            _flock(fd, timeout, node_id, chunk_start)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _flock(fd: int, timeout: float | None, node_id: str, cs: int) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"window lock of {node_id} chunk {cs} not acquired in {timeout} s"
                ) from None
            time.sleep(_LOCK_POLL_S)


def _check_bounds(iv: Interval, start: int, end: int) -> tuple[int, int]:
    for field, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InvalidRequestError(field, f"{value!r} is not an int of epoch seconds")
        if value % iv.seconds:
            raise InvalidRequestError(field, f"{value} is not aligned to the {iv.name} interval")
    if start > end:
        raise InvalidRequestError("end", f"{end} is before start {start}")
    return int(start), int(end)


def _check_aligned(iv: Interval, ranges: RangeSet, field: str) -> None:
    for s, e in ranges:
        if s % iv.seconds or e % iv.seconds:
            raise InvalidRequestError(field, f"({s}, {e}) is not aligned to the {iv.name} interval")


def _inside(ts_ns: np.ndarray, ranges: RangeSet) -> np.ndarray:
    """Boolean mask of the sorted ``ts_ns`` that fall in ``ranges``."""
    mask = np.zeros(len(ts_ns), dtype=bool)
    for s, e in ranges:
        lo, hi = np.searchsorted(ts_ns, [s * _NS, e * _NS])
        mask[lo:hi] = True
    return mask


def _check_rows_covered(ts_ns: np.ndarray, coverage: RangeSet) -> None:
    if len(ts_ns) and not _inside(ts_ns, coverage).all():
        raise StoreError(
            "frame: some rows would be stored outside coverage (a reader must never see a "
            "bar that coverage does not vouch for); nothing was written"
        )
