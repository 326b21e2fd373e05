"""LocalStore: the embedded bar store, one SQLite file of Arrow chunks.

Bars of a ``(node_id, interval)`` are kept in chunks aligned to the interval's
calendar chunk windows (``seamless_sdk.intervals``); each chunk is one SQLite
row holding an Arrow IPC stream (``seamless_sdk.stores._arrow``), and coverage
lives in a table beside them (``seamless_sdk.stores._sqlite``). A write changes
the touched chunks and the coverage in one ``BEGIN IMMEDIATE`` transaction, so
readers, in this process or another, see all of it or none of it.

Reads keep one connection per thread open for the store's lifetime and copy
the needed rows straight from the blobs into one block per dtype. Every chunk
and coverage row carries a checksum that is verified whenever it is read
(``_checksum``, ``_chunks``): damaged bytes raise ``StoreCorruptedError``, never
a wrong answer; ``verify()`` lists damage and ``repair()`` drops it.

A file is opened only if it is ours (``_schema``: application id and format
version, older versions upgraded) and its path is checked first so errors
name their cause (``_paths``); on read-only media it opens for reading.

>>> store = LocalStore(tmp_path / "bars.sqlite")             # doctest: +SKIP
>>> store.write("demo:BTC", parse_interval("1m"), 0, 86400, frame)  # doctest: +SKIP
>>> store.read("demo:BTC", parse_interval("1m"), 0, 3600)    # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS
from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import (
    Interval,
    check_time,
    chunk_windows,
    parse_interval,
    window_next,
)
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id, validate_node_ids
from seamless_sdk.stores import _integrity, _paths, _schema, _sqlite
from seamless_sdk.stores._arrow import Columns, FrameBuilder
from seamless_sdk.stores._checksum import chunk_crc, series_seed
from seamless_sdk.stores._chunks import covered_chunks, load_chunk, missing_chunk, put_chunk
from seamless_sdk.stores._flock import chunk_lock
from seamless_sdk.stores._integrity import DamagedChunk
from seamless_sdk.stores._window import (
    check_chunk_start,
    check_ranges,
    check_rows_covered,
    check_write,
    clip_bounds,
    inside,
    read_bounds,
    write_items,
)
from seamless_sdk.stores.base import CoveredBars, WindowWrite

__all__ = ["DamagedChunk", "LocalStore"]


class LocalStore:
    """The embedded :class:`~seamless_sdk.stores.base.BarStore`: a SQLite file in
    WAL mode at ``path`` (parent directories are created) whose rows are Arrow
    chunks, plus lock files under the sibling directory ``<path>.locks/``.

    Safe to share between threads; any number of processes may open the same
    file, and their writes queue (up to a minute) instead of failing. Pickling
    a store pickles its path, so it can be handed to worker processes.

    ``read_only=True`` opens an existing store for reading only; a store on
    read-only media, or whose file or directory is not writable, is opened
    that way by itself. Writes to a read-only store raise ``StoreError`` saying
    why. A file that is not a Seamless store, or is a newer one, raises
    ``ForeignStoreError`` and is not changed.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self._path = _paths.store_path(path)
        self._lock_dir = self._path.with_name(self._path.name + ".locks")
        self._asked_read_only = read_only
        plan = _paths.plan(self._path, read_only=read_only)
        if not plan.read_only:
            # A creator killed mid-way (by kill -9, before its cleanup) left its
            # temporary copy: removed by the next process that may write here.
            _schema.sweep_temporaries(self._path)
            if not self._path.exists():
                _schema.create(self._path)  # appears whole: a racing opener never sees it half made
        self._read_only = plan.why_read_only
        self._pool = _sqlite.ConnectionPool(
            self._path, read_only=plan.read_only, immutable=plan.immutable
        )
        self._conn = self._pool.get
        try:
            self._open(plan)
        except BaseException:
            self.close()
            raise

    def _open(self, plan: _paths.OpenPlan) -> None:
        try:
            conn = self._conn()
            if not plan.read_only:
                _schema.ensure_current(conn, self._path)
                return
            version = _schema.version_of(conn, self._path)
        except sqlite3.Error as exc:
            if _sqlite.is_corruption(exc):
                raise StoreCorruptedError(None, None, None, f"SQLite: {exc}") from exc
            cannot = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY)
            if plan.read_only and _sqlite.primary_code(exc) in cannot:
                raise StoreError(
                    f"cannot open the store at {self._path} for reading: SQLite must create "
                    f"its -shm file beside it, and {plan.why_read_only}"
                ) from exc
            raise StoreError(f"cannot open the store at {self._path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(
                f"cannot open the store at {self._path}: {_paths.describe_os_error(exc)}"
            ) from exc
        except UnicodeDecodeError as exc:  # the schema's text is not UTF-8: damaged
            raise StoreCorruptedError(None, None, None, f"unreadable schema ({exc})") from exc
        if version != _schema.FORMAT_VERSION:
            raise StoreError(
                f"cannot open the store at {self._path}: it is of format version {version} "
                f"and must be upgraded to {_schema.FORMAT_VERSION}, which needs write access, "
                f"but {plan.why_read_only}"
            )

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        """Close every connection this store opened, from any thread. Using the
        store afterwards raises ``StoreError``; closing twice is harmless."""
        self._pool.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, tuple[str, bool]]:
        return (_reopen, (str(self._path), self._asked_read_only))

    def __repr__(self) -> str:
        flags = ", read-only" if self._read_only else ""
        flags += ", closed" if self._pool.closed else ""
        return f"LocalStore({str(self._path)!r}{flags})"

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """Whether this store refuses writes (asked for, or forced by the file)."""
        return self._read_only is not None

    def _check_writable(self) -> None:
        if self._pool.closed:
            raise StoreError(f"the store at {self._path} is closed")
        if self._read_only is not None:
            raise StoreError(
                f"the store at {self._path} is read-only ({self._read_only}); nothing was written"
            )

    # -- reads ----------------------------------------------------------------
    def read(self, node_id: str, interval: Interval | str, start: int, end: int) -> pd.DataFrame:
        """Stored bars with ``start <= ts < end`` as a stored bar frame (a new
        frame the caller owns; empty, with the right dtypes, if there are none)."""
        return self.read_bars(node_id, interval, start, end).to_frame(flags=True)

    def read_bars(self, node_id: str, interval: Interval | str, start: int, end: int) -> Bars:
        """``read`` as arrays, for the SDK's hot path (no DataFrame built).

        Every chunk is checked before a row of it is copied: its checksum, its
        row count and ``ts`` inside its window; the chunks found must be those
        coverage vouches for, and the rows returned strictly ascending inside
        ``[start, end)``. Damage raises ``StoreCorruptedError`` naming node,
        interval and (where it is one chunk's) the chunk.
        """
        node_id = validate_node_id(node_id)  # before any SQL, like every other call
        return self._read_series([node_id], parse_interval(interval), start, end)[1][node_id]

    def read_many(
        self, node_ids: Sequence[str], interval: Interval | str, start: int, end: int
    ) -> dict[str, pd.DataFrame]:
        """``read`` of several series over one ``[start, end)``: node id -> its
        stored bar frame (one key per distinct id, in the order asked)."""
        bars = self.read_bars_many(node_ids, interval, start, end)
        return {node: b.to_frame(flags=True) for node, b in bars.items()}

    def read_bars_many(
        self, node_ids: Sequence[str], interval: Interval | str, start: int, end: int
    ) -> dict[str, Bars]:
        """``read_bars`` of several series in one snapshot and three queries
        (their coverage, their row counts, then every chunk of all of them),
        with every check of ``read_bars`` made per series. The bars are views
        of a few blocks, series after series (see :data:`BLOCK_ROWS`), which
        ``frames.assemble_many`` uses without another copy."""
        nodes = validate_node_ids(node_ids)
        return self._read_series(nodes, parse_interval(interval), start, end)[1]

    def read_covered_many(
        self, node_ids: Sequence[str], interval: Interval | str, start: int, end: int
    ) -> dict[str, CoveredBars]:
        """``read_bars_many`` with each series' coverage inside ``[start, end)``,
        from the same snapshot (``stores.base.SnapshotReads``)."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        cover, bars = self._read_series(nodes, iv, start, end)
        lo, hi = read_bounds(start, end)
        window = RangeSet.span(lo, hi) if lo < hi else RangeSet()
        return {n: CoveredBars(RangeSet(cover[n]).intersect(window), bars[n]) for n in nodes}

    def _read_series(
        self, nodes: list[str], iv: Interval, start: int, end: int
    ) -> tuple[dict[str, list[tuple[int, int]]], dict[str, Bars]]:
        """Each series' coverage pairs over the chunk windows of ``[start, end)``
        and its bars inside ``[start, end)``, from one snapshot."""
        # One path for one series and for many: the same queries (the batch
        # ones take the ids as a JSON array) and the same checks of every chunk.
        conn = self._conn()
        start, end = read_bounds(start, end)  # ints: numpy ints do not bind as SQL parameters
        if end <= start or not nodes:
            return {n: [] for n in nodes}, {n: Bars.empty() for n in nodes}
        one = len(nodes) == 1
        lo_w, hi_w = chunk_of(iv, start), window_next(chunk_of(iv, end - 1), iv.chunk_unit)
        try:
            # Coverage and chunks from one snapshot, so a writer committing in
            # between cannot make a covered window look as if its row were gone.
            own = not conn.in_transaction
            if own:
                conn.execute("BEGIN")
            try:
                # Whole chunk windows: exactly those the chunk query returns.
                if one:
                    node = nodes[0]
                    cover = {node: _sqlite.coverage_pairs(conn, node, iv.seconds, lo_w, hi_w)}
                    cursor = conn.execute(_sqlite.READ_SQL, (node, iv.seconds, lo_w, end))
                    counts = None
                else:
                    cover = _sqlite.coverage_pairs_many(conn, nodes, iv.seconds, lo_w, hi_w)
                    params = (json.dumps(nodes), iv.seconds, lo_w, end)
                    counts = dict(conn.execute(_sqlite.COUNTS_MANY_SQL, params).fetchall())
                    cursor = conn.execute(_sqlite.READ_MANY_SQL, params)
            except BaseException:
                if own:
                    conn.execute("ROLLBACK")
                raise
            try:
                scan = _Scan(iv, start, end, nodes, counts)
                scan.rows(cursor)
            finally:
                cursor.close()
                if own:
                    conn.execute("ROLLBACK")  # a read: nothing to commit
        except sqlite3.Error as exc:
            who = nodes[0] if one else None
            if _sqlite.is_corruption(exc):
                raise StoreCorruptedError(who, iv.name, None, f"SQLite: {exc}") from exc
            what = f"{who} {iv.name}" if one else f"{len(nodes)} series of {iv.name}"
            raise StoreError(f"read of {what} failed: {exc}") from exc
        for node in nodes:
            expected = list(covered_chunks(iv, cover[node], lo_w, hi_w))
            _check_rows_match_coverage(node, iv, expected, scan.seen.get(node, set()))
        return cover, scan.bars()

    def coverage(self, node_id: str, interval: Interval | str) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that have been checked and stored."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        try:
            return _sqlite.load_coverage(self._conn(), node_id, iv.seconds)
        except sqlite3.Error as exc:
            if _sqlite.is_corruption(exc):
                raise StoreCorruptedError(node_id, iv.name, None, f"SQLite: {exc}") from exc
            raise StoreError(f"coverage of {node_id} {iv.name} failed: {exc}") from exc

    def coverage_many(
        self,
        node_ids: Sequence[str],
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[str, RangeSet]:
        """``coverage`` of several series in one query, each clipped to ``[start,
        end)`` when both are given: node id -> RangeSet, one key per distinct id."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        clip = clip_bounds(start, end)
        if not nodes:
            return {}
        lo, hi = (None, None) if clip is None else clip
        try:
            pairs = _sqlite.coverage_pairs_many(self._conn(), nodes, iv.seconds, lo, hi)
        except sqlite3.Error as exc:
            if _sqlite.is_corruption(exc):
                raise StoreCorruptedError(None, iv.name, None, f"SQLite: {exc}") from exc
            raise StoreError(f"coverage of {len(nodes)} series of {iv.name} failed: {exc}") from exc
        if clip is None:
            return {n: RangeSet(p) for n, p in pairs.items()}
        window = RangeSet.span(*clip)
        return {n: RangeSet(p).intersect(window) for n, p in pairs.items()}

    def series(self) -> list[tuple[str, str]]:
        """Every ``(node_id, interval name)`` that has coverage, sorted."""
        try:
            return [(str(n), str(i)) for n, i in self._conn().execute(_sqlite.SERIES_SQL)]
        except sqlite3.Error as exc:
            if _sqlite.is_corruption(exc):
                raise StoreCorruptedError(None, None, None, f"SQLite: {exc}") from exc
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
        self.write_many([WindowWrite(node_id, interval, start, end, frame, covered)])

    def write_many(self, writes: Sequence[WindowWrite]) -> None:
        """Apply several window writes in one ``BEGIN IMMEDIATE`` transaction: all
        of them or none. Each item means what the same ``write`` means, in order;
        every item is checked before the transaction starts."""
        checked = [check_write(w) for w in write_items(writes)]
        self._check_writable()
        if not checked:
            return
        conn = self._conn()
        node_id, iv = checked[0].node_id, checked[0].iv
        try:
            with _sqlite.immediate(conn):
                for node_id, iv, start, end, cover, cols in checked:
                    old = _sqlite.load_coverage(conn, node_id, iv.seconds)
                    new = old.union(cover)
                    check_rows_covered(cols.ts, new.clip(start, end))
                    for ws, we in chunk_windows(iv, start, end):
                        self._replace_rows(conn, node_id, iv, ws, we, cols, old, new)
                    if new != old:
                        _sqlite.save_coverage(conn, node_id, iv.seconds, iv.name, old, new)
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, f"write of {node_id} {iv.name}", node_id, iv) from exc

    def _replace_rows(
        self,
        conn: sqlite3.Connection,
        node_id: str,
        iv: Interval,
        ws: int,
        we: int,
        cols: Columns,
        old: RangeSet,
        new: RangeSet,
    ) -> None:
        # [ws, we) lies inside one chunk; keep that chunk's rows outside it.
        cs = chunk_of(iv, ws)
        ce = window_next(cs, iv.chunk_unit)
        lo, hi = np.searchsorted(cols.ts, [ws * NS, we * NS])
        rows = cols.take(slice(lo, hi))
        if ws != cs or we != ce:
            # Verified: a damaged chunk is never re-stored under a fresh checksum.
            kept = load_chunk(conn, node_id, iv, cs)
            if kept is not None:
                a, b = np.searchsorted(kept.ts, [ws * NS, we * NS])
                rows = Columns.concat([kept.take(slice(0, a)), rows, kept.take(slice(b, None))])
            elif old.clip(cs, ce).subtract(RangeSet.span(ws, we)):
                # Coverage vouches for bars outside [ws, we) that are gone: writing
                # this window alone would serve their loss as an empty gap.
                raise missing_chunk(node_id, iv, cs)
        put_chunk(conn, node_id, iv, cs, rows, covered=bool(new.clip(cs, ce)))

    def remove_coverage(self, node_id: str, interval: Interval | str, ranges: RangeSet) -> None:
        """Forget coverage in ``ranges`` and delete the bars inside them, in one
        transaction (used to repair drift)."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        if not isinstance(ranges, RangeSet):
            raise InvalidRequestError("ranges", f"expected a RangeSet, got {type(ranges).__name__}")
        check_ranges(iv, ranges, "ranges")
        if not ranges:
            return
        check_time(ranges.start, "ranges")  # type: ignore[arg-type]
        check_time(ranges.end, "ranges")  # type: ignore[arg-type]
        self._check_writable()
        conn = self._conn()
        try:
            with _sqlite.immediate(conn):
                old = _sqlite.load_coverage(conn, node_id, iv.seconds)
                new = old.subtract(ranges)
                starts: set[int] = set()
                for s, e in ranges:
                    params = (node_id, iv.seconds, chunk_of(iv, s), e)
                    starts.update(r[0] for r in conn.execute(_sqlite.CHUNK_STARTS_SQL, params))
                for cs in sorted(starts):
                    window_end = window_next(cs, iv.chunk_unit)
                    drop = ranges.clip(cs, window_end)
                    still = bool(new.clip(cs, window_end))
                    if drop == RangeSet.span(cs, window_end) or (drop and not still):
                        # Nothing of the window stays covered, so no bar in it may stay.
                        conn.execute(_sqlite.DELETE_SQL, (node_id, iv.seconds, cs))
                    elif drop:
                        rows = load_chunk(conn, node_id, iv, cs)
                        if rows is not None:
                            kept = rows.take(~inside(rows.ts, drop))
                            put_chunk(conn, node_id, iv, cs, kept, covered=True)
                if new != old:
                    _sqlite.save_coverage(conn, node_id, iv.seconds, iv.name, old, new)
        except sqlite3.Error as exc:
            raise _sqlite_error(
                exc, f"remove_coverage of {node_id} {iv.name}", node_id, iv
            ) from exc

    # -- integrity ------------------------------------------------------------
    def verify(self) -> list[DamagedChunk]:
        """Every damaged chunk and coverage row of the store, sorted (empty: all
        sound). Reads the whole file in one snapshot; changes nothing.

        Raises ``StoreCorruptedError`` if SQLite's own structure (its B-trees)
        is damaged, which no chunk-level repair can fix.
        """
        conn = self._conn()
        try:
            conn.execute("BEGIN")
            try:
                return _integrity.find_damage(conn).reports
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, "verify", None, None) from exc

    def repair(self) -> list[DamagedChunk]:
        """Drop every damaged chunk and coverage row, and the coverage of the
        dropped chunks' windows, in one transaction, so the next fill fetches
        them again; return what was dropped (what ``verify`` would have said).
        Bars that coverage no longer vouches for go too (invariant 1)."""
        self._check_writable()
        conn = self._conn()
        try:
            with _sqlite.immediate(conn):
                return _integrity.repair(conn)
        except sqlite3.Error as exc:
            raise _sqlite_error(exc, "repair", None, None) from exc

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
        chunk_start = check_chunk_start(iv, chunk_start)
        self._check_writable()  # a lock guards a fill, which a read-only store cannot store
        with chunk_lock(self._lock_dir, node_id, iv.seconds, chunk_start, timeout):
            yield


def _check_rows_match_coverage(
    node_id: str, iv: Interval, expected: list[int], seen: set[int]
) -> None:
    # A chunk row exists exactly for the windows coverage touches (_chunks). A
    # damaged index or B-tree page can make SQLite skip rows, or lose coverage
    # rows, without an error: that shows here as a mismatch, not as bars
    # silently missing from the answer.
    if len(expected) == len(seen) and all(cs in seen for cs in expected):
        return
    for cs in expected:
        if cs not in seen:
            raise missing_chunk(node_id, iv, cs)
    extra = min(seen - set(expected))
    raise StoreCorruptedError(
        node_id, iv.name, extra, "uncovered: no coverage vouches for its bars (coverage lost?)"
    )


BLOCK_ROWS = 2560
"""Rows per block of a batch read: 120 KiB of ``ts`` and values, under the
128 KiB above which glibc's allocator maps fresh pages for every block (its
default mmap threshold). The bars of a universe go into many such blocks
rather than one: pages of a big block fault in again on every read
(measured: 37 MB of bars in one block took 10-16 ms to fill, 4-5 ms in
blocks the allocator reuses; a batch in 3 MB blocks still faulted 8,000-13,000
pages a call, in these none), and the frames view the blocks, so they need
no second copy. A series longer than this is a block of its own, as in
``read_bars``."""


def plan_blocks(counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Node -> (block, capacity of that block), packing series in the order
    given into blocks of at most ``BLOCK_ROWS`` rows (a longer series alone)."""
    out: dict[str, tuple[int, int]] = {}
    members: list[str] = []
    block, rows = 0, 0
    for node, n in counts.items():
        if members and rows + n > BLOCK_ROWS:
            out.update(dict.fromkeys(members, (block, rows)))
            members, block, rows = [], block + 1, 0
        members.append(node)
        rows += n
    out.update(dict.fromkeys(members, (block, rows)))
    return out


_NO_BARS = Bars.empty()


class _Scan:
    """The chunk rows of one read, checked and copied into blocks, one series
    after another (rows arrive ordered by node, then ``chunk_start``): the
    loop ``read_bars`` and ``read_bars_many`` share.

    One series: one block, sized by the row count the chunk query returns
    beside each row. Several: blocks planned from each series' row count
    (``counts``, from the same snapshot), see :data:`BLOCK_ROWS`.
    """

    __slots__ = ("_blocks", "_end", "_iv", "_nodes", "_plan", "_start", "seen")

    def __init__(
        self, iv: Interval, start: int, end: int, nodes: list[str], counts: dict[str, int] | None
    ) -> None:
        self._iv = iv
        self._start = start
        self._end = end
        self._nodes = nodes
        self._plan = None if counts is None else plan_blocks(counts)
        # Per block: its builder and node -> row where the node's series ends.
        self._blocks: list[tuple[FrameBuilder, dict[str, int]]] = []
        self.seen: dict[str, set[int]] = {}  # node -> chunk starts found

    def rows(self, cursor: sqlite3.Cursor) -> None:
        """Check and copy every row of ``cursor`` (``READ_SQL``'s columns)."""
        iv, unit = self._iv, self._iv.chunk_unit
        wanted = set(self._nodes)
        builder: FrameBuilder | None = None
        ends: dict[str, int] = {}
        current, block, seed, seen = None, -1, 0, set()
        for total, node, cs, nrows, crc, blob in cursor:
            if node != current:
                if node in self.seen or node not in wanted:
                    # Rows of a series out of order, or of one not asked for:
                    # the index is damaged, whatever the rows' checksums say.
                    name = node if isinstance(node, str) else None
                    raise StoreCorruptedError(name, iv.name, None, "chunk rows out of key order")
                if current is not None and builder is not None:
                    ends[current] = builder.n
                current, seed, seen = node, series_seed(node, iv.seconds), set()
                self.seen[node] = seen
                if self._plan is not None:
                    where, total = self._plan.get(node, (-2, None))
                    if where != block:
                        block, builder, ends = where, None, {}
            seen.add(cs)
            if not _crc_ok(crc, seed, cs, nrows, blob):
                raise StoreCorruptedError(node, iv.name, cs, "checksum mismatch")
            if builder is None:
                if not isinstance(total, int) or not isinstance(nrows, int) or total < nrows:
                    raise StoreCorruptedError(node, iv.name, cs, f"the row counts sum to {total!r}")
                builder = FrameBuilder(total, self._start * NS, self._end * NS)
                self._blocks.append((builder, ends))
            try:
                builder.add(blob, nrows, cs * NS, window_next(cs, unit) * NS)
            except StoreError as exc:
                reason = str(exc).removeprefix("chunk: ")
                raise StoreCorruptedError(node, iv.name, cs, reason) from exc
        if current is not None and builder is not None:
            ends[current] = builder.n

    def bars(self) -> dict[str, Bars]:
        """Node -> its bars, in the order asked (``Bars.empty()`` for a series
        without rows); ``StoreCorruptedError`` if a series' rows are out of order."""
        iv = self._iv
        if not self._blocks:
            return {n: Bars.empty() for n in self._nodes}
        if self._plan is None:  # one series, as read_bars always returned it
            try:
                return {self._nodes[0]: self._blocks[0][0].bars()}
            except StoreError as exc:
                reason = str(exc).removeprefix("chunk: ")
                raise StoreCorruptedError(self._nodes[0], iv.name, None, reason) from exc
        out = dict.fromkeys(self._nodes, _NO_BARS)  # each series without rows, replaced below
        for builder, ends in self._blocks:
            order, cuts = list(ends), list(ends.values())
            bad = builder.bad_series(cuts)
            if bad is not None:
                reason = "ts is not strictly ascending inside the read's window"
                raise StoreCorruptedError(order[bad], iv.name, None, reason)
            out.update(zip(order, builder.split(cuts), strict=True))
        return {n: Bars.empty() if b is _NO_BARS else b for n, b in out.items()}


def _reopen(path: str, read_only: bool) -> LocalStore:
    return LocalStore(path, read_only=read_only)


def _crc_ok(crc: object, seed: int, cs: object, nrows: object, blob: object) -> bool:
    # Values of a damaged row may have any type; that is a mismatch, not a crash.
    try:
        return crc == chunk_crc(seed, cs, nrows, blob)  # type: ignore[arg-type]
    except (TypeError, struct.error):
        return False


def _sqlite_error(
    exc: sqlite3.Error, what: str, node_id: str | None, iv: Interval | None
) -> StoreError:
    if _sqlite.is_corruption(exc):
        return StoreCorruptedError(node_id, None if iv is None else iv.name, None, f"SQLite: {exc}")
    return StoreError(f"{what} failed: {exc}")
