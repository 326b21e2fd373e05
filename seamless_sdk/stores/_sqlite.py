"""The SQLite side of LocalStore: connections, transactions, SQL, coverage rows.

One file in WAL mode, so readers in any process never block the one writer
and always see a committed state. Two tables (created and upgraded by
``_schema``):

* ``chunks``: one row per ``(node_id, interval_s, chunk_start)``; ``data`` is
  an Arrow IPC stream of the chunk's bars, ``nrows`` its row count (kept
  before the blob so it can be read without touching the blob's pages) and
  ``crc`` the checksum of the row (``_checksum``);
* ``coverage``: the normalised RangeSet of each ``(node_id, interval_s)``, one
  row per disjoint range, with the interval's name for ``series()`` and a
  checksum.

Every statement binds its values as parameters; nothing is formatted into SQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seamless_sdk.errors import StoreCorruptedError, StoreError
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores._checksum import coverage_crc

BUSY_TIMEOUT_S = 60.0
# Reads map the file instead of copying pages through SQLite's cache: halves
# the cost of a 30-day read. Address space only; SQLite caps it near 2 GiB.
MMAP_BYTES = 1 << 30
CACHE_KIB = 32_768

# The uncorrelated subquery runs once; putting it in the same statement makes
# the row count and the blobs come from one snapshot.
READ_SQL = """
    SELECT (SELECT sum(nrows) FROM chunks
            WHERE node_id = ?1 AND interval_s = ?2 AND chunk_start >= ?3 AND chunk_start < ?4),
           node_id, chunk_start, nrows, crc, data
    FROM chunks
    WHERE node_id = ?1 AND interval_s = ?2 AND chunk_start >= ?3 AND chunk_start < ?4
    ORDER BY chunk_start
"""
# The batch read of many series: ?1 is a JSON array of node ids. SQLite walks
# the primary key once per id in sorted order, so ORDER BY costs no sort (no
# temp B-tree holding the blobs); one bound parameter serves any number of ids.
_NODES = "node_id IN (SELECT value FROM json_each(?1))"
READ_MANY_SQL = f"""
    SELECT NULL, node_id, chunk_start, nrows, crc, data
    FROM chunks
    WHERE {_NODES} AND interval_s = ?2 AND chunk_start >= ?3 AND chunk_start < ?4
    ORDER BY node_id, chunk_start
"""
# Each series' row count, in the order READ_MANY_SQL returns the series: the
# batch read sizes its blocks by them (read in the same snapshot).
COUNTS_MANY_SQL = f"""
    SELECT node_id, sum(nrows) FROM chunks
    WHERE {_NODES} AND interval_s = ?2 AND chunk_start >= ?3 AND chunk_start < ?4
    GROUP BY node_id ORDER BY node_id
"""
CHUNK_SQL = """
    SELECT nrows, crc, data FROM chunks WHERE node_id = ? AND interval_s = ? AND chunk_start = ?
"""
CHUNK_STARTS_SQL = """
    SELECT chunk_start FROM chunks
    WHERE node_id = ? AND interval_s = ? AND chunk_start >= ? AND chunk_start < ?
"""
UPSERT_SQL = """
    INSERT INTO chunks (node_id, interval_s, chunk_start, nrows, data, crc)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (node_id, interval_s, chunk_start)
    DO UPDATE SET nrows = excluded.nrows, data = excluded.data, crc = excluded.crc
"""
DELETE_SQL = "DELETE FROM chunks WHERE node_id = ? AND interval_s = ? AND chunk_start = ?"
_COVERAGE_SQL = """
    SELECT interval, range_start, range_end, crc FROM coverage
    WHERE node_id = ? AND interval_s = ? AND range_start < ? AND range_end > ?
    ORDER BY range_start
"""
_COVERAGE_MANY_SQL = f"""
    SELECT node_id, interval, range_start, range_end, crc FROM coverage
    WHERE {_NODES} AND interval_s = ?2 AND range_start < ?3 AND range_end > ?4
    ORDER BY node_id, range_start
"""
_ALL_TIME = (2**63 - 1, -(2**63))
SERIES_SQL = "SELECT DISTINCT node_id, interval FROM coverage ORDER BY node_id, interval_s"
_SQLITE_CORRUPT = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def connect(path: Path, *, read_only: bool = False, immutable: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) usable from
    any thread, tuned for this store.

    ``read_only`` opens with ``mode=ro``; ``immutable`` additionally tells
    SQLite the file cannot change, which is the only way to read a WAL file on
    read-only media whose ``-shm`` file does not exist (SQLite cannot create
    it there); ``_paths`` decides when that is safe.
    """
    if read_only:
        query = "mode=ro&immutable=1" if immutable else "mode=ro"
        target: str | Path = f"{path.absolute().as_uri()}?{query}"
    else:
        target = path
    conn = sqlite3.connect(
        target,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
        uri=read_only,
    )
    try:
        # NORMAL in WAL mode: a commit is atomic and survives a process crash;
        # only an OS crash can lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # Sanity-check every B-tree page as it is read: more damage becomes an
        # error instead of rows silently skipped.
        conn.execute("PRAGMA cell_size_check = ON")
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def primary_code(exc: sqlite3.Error) -> int | None:
    """SQLite's primary result code of ``exc`` (``sqlite_errorcode`` is the
    extended one, e.g. ``SQLITE_CORRUPT_INDEX``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_corruption(exc: sqlite3.Error) -> bool:
    """Whether SQLite reports the file itself as damaged (not busy, not closed),
    or a text column holds bytes that are not UTF-8 (we only store ASCII)."""
    if primary_code(exc) in _SQLITE_CORRUPT:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "decode to UTF-8" in str(exc)


_fork_generation = 0
# Connections a forked child inherited: SQLite forbids using or closing them
# there, so they are kept referenced (never finalised) for the child's life.
_inherited: list[_Handle] = []


def _after_fork_in_child() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Handle:
    """One thread's connection. The pool's thread-local slot holds it; when the
    thread ends the slot goes and the connection closes with it, so short-lived
    threads (executors, ``asyncio.to_thread``) do not pile up open files."""

    __slots__ = ("__weakref__", "conn", "generation", "owner")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.generation = _fork_generation
        self.owner = weakref.ref(threading.current_thread())

    def idle(self) -> bool:
        """True when no thread can be using the connection: it is this thread's,
        or its thread has ended."""
        owner = self.owner()
        return owner is None or owner is threading.current_thread() or not owner.is_alive()

    def close(self) -> None:
        if self.generation == _fork_generation:
            self.conn.close()

    def __del__(self) -> None:
        self.close()


class ConnectionPool:
    """One open connection per thread, per process, for the pool's lifetime:
    opening a connection per query would cost more than the query."""

    def __init__(self, path: Path, *, read_only: bool = False, immutable: bool = False) -> None:
        self._path = path
        self._read_only = read_only
        self._immutable = immutable
        self._guard = threading.Lock()
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self.closed = False

    def get(self) -> sqlite3.Connection:
        """This thread's connection; ``StoreError`` once the pool is closed."""
        if self.closed:
            stale = getattr(self._local, "handle", None)
            if stale is not None:  # left open by a close() from another thread
                self._local.handle = None
                stale.close()
            raise StoreError(f"the store at {self._path} is closed")
        handle = getattr(self._local, "handle", None)
        if handle is None or handle.generation != _fork_generation:
            if handle is not None:
                _inherited.append(handle)
            handle = self._open()
        return handle.conn

    def _open(self) -> _Handle:
        handle = _Handle(connect(self._path, read_only=self._read_only, immutable=self._immutable))
        with self._guard:
            if self.closed:
                handle.close()
                raise StoreError(f"the store at {self._path} is closed")
            self._handles.add(handle)
        self._local.handle = handle
        return handle

    def close(self) -> None:
        """Close the pool: at once, every connection no thread can be using (this
        thread's and those of threads that ended); the others when their thread
        next asks for one (and gets ``StoreError``) or ends.

        Closing a connection while another thread runs a statement on it can
        crash the interpreter (seen: a fill thread writing as ``close()`` timed
        out waiting for it), so a live thread's connection is never closed from
        another thread.
        """
        with self._guard:
            self.closed = True
            handles = list(self._handles)
            self._handles.clear()
        for handle in handles:
            if handle.idle():
                handle.close()

    def __len__(self) -> int:
        return len(self._handles)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: taken at the start (so the read-modify-write inside
    sees no other writer), committed at the end, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def load_coverage(
    conn: sqlite3.Connection,
    node_id: str,
    interval_s: int,
    start: int | None = None,
    end: int | None = None,
) -> RangeSet:
    """The coverage of one series as stored (only the ranges that overlap
    ``[start, end)`` when given), every row's checksum verified
    (``StoreCorruptedError`` names the series if one fails)."""
    return RangeSet(coverage_pairs(conn, node_id, interval_s, start, end))


def coverage_pairs(
    conn: sqlite3.Connection,
    node_id: str,
    interval_s: int,
    start: int | None = None,
    end: int | None = None,
) -> list[tuple[int, int]]:
    """``load_coverage`` as the stored ``(start, end)`` pairs: sorted and disjoint,
    since only normalised RangeSets are saved and every row's checksum holds."""
    bounds = _ALL_TIME if start is None or end is None else (end, start)
    pairs = []
    for interval, lo, hi, crc in conn.execute(_COVERAGE_SQL, (node_id, interval_s, *bounds)):
        if crc is None or crc != _coverage_crc(node_id, interval_s, interval, lo, hi):
            name = interval if isinstance(interval, str) else f"{interval_s}s"
            raise StoreCorruptedError(
                node_id, name, None, f"coverage row starting at {lo!r} fails its checksum"
            )
        pairs.append((lo, hi))
    return pairs


def coverage_pairs_many(
    conn: sqlite3.Connection,
    node_ids: list[str],
    interval_s: int,
    start: int | None = None,
    end: int | None = None,
) -> dict[str, list[tuple[int, int]]]:
    """``coverage_pairs`` of several series in one query: node id -> its pairs
    (every id asked for is a key, with ``[]`` when it has no coverage), each
    row's checksum verified the same way."""
    bounds = _ALL_TIME if start is None or end is None else (end, start)
    out: dict[str, list[tuple[int, int]]] = {n: [] for n in node_ids}
    rows = conn.execute(_COVERAGE_MANY_SQL, (json.dumps(node_ids), interval_s, *bounds))
    for node_id, interval, lo, hi, crc in rows:
        pairs = out.get(node_id)
        if (
            pairs is None
            or crc is None
            or crc != _coverage_crc(node_id, interval_s, interval, lo, hi)
        ):
            name = interval if isinstance(interval, str) else f"{interval_s}s"
            raise StoreCorruptedError(
                node_id if isinstance(node_id, str) else None,
                name,
                None,
                f"coverage row starting at {lo!r} fails its checksum",
            )
        pairs.append((lo, hi))
    return out


def _coverage_crc(
    node_id: str, interval_s: int, interval: object, start: object, end: object
) -> int:
    if not isinstance(interval, str) or not isinstance(start, int) or not isinstance(end, int):
        return -1  # a damaged row whose values changed type: never equal to a CRC
    return coverage_crc(node_id, interval_s, interval, start, end)


def save_coverage(
    conn: sqlite3.Connection,
    node_id: str,
    interval_s: int,
    interval: str,
    old: RangeSet,
    new: RangeSet,
) -> None:
    """Turn the stored rows for ``old`` into rows for ``new``, touching only the
    ranges that changed. Call inside a write transaction."""
    before, after = set(old), set(new)
    conn.executemany(
        "DELETE FROM coverage WHERE node_id = ? AND interval_s = ? AND range_start = ?",
        [(node_id, interval_s, s) for s, _ in before - after],
    )
    conn.executemany(
        "INSERT INTO coverage (node_id, interval_s, interval, range_start, range_end, crc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (node_id, interval_s, interval, s, e, coverage_crc(node_id, interval_s, interval, s, e))
            for s, e in sorted(after - before)
        ],
    )
