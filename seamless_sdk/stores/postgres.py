"""PostgresStore: a bar store shared by every host that reaches one PostgreSQL server.

The layout is LocalStore's, moved to PostgreSQL (``_pg_sql``): one row per
chunk (a UTC day of minute bars) holding the chunk's bars as raw column
arrays (``_rawchunk``), and the coverage in a table beside them. A write
changes chunks and coverage in one transaction; a read is one statement
(one snapshot), so a reader on any host never sees bars outside coverage nor
coverage without its bars.

Why chunks and not a row per bar: a 30-day read of 1m bars is 30 rows of
75 KB (sent as they are over the binary protocol and copied once into the
answer) instead of 43,200 rows to decode one value at a time. SQL users get a
row-per-bar view, ``bars``, and ``read_bars(...)`` (see ``docs/stores.md``).

Connections are persistent: a small pool for reads and writes, and one
connection per held ``window_lock``, which is a PostgreSQL advisory lock, so
single flight spans hosts and a dead holder's lock goes with its session.

>>> store = PostgresStore("postgresql://seamless@db:5432/bars")   # doctest: +SKIP
>>> store.write("demo:BTC", "1m", 0, 86400, frame)                # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS
from seamless_sdk.checks import MAX_WORKERS, check_number
from seamless_sdk.errors import (
    ForeignStoreError,
    InvalidRequestError,
    StoreCorruptedError,
    StoreError,
)
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import (
    MAX_TIME,
    MIN_TIME,
    Interval,
    chunk_windows,
    parse_interval,
    window_next,
)
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id, validate_node_ids
from seamless_sdk.stores import _pg_sql, _rawchunk
from seamless_sdk.stores._arrow import Columns
from seamless_sdk.stores._pg import (
    AdvisoryLocks,
    Pool,
    advisory_key,
    describe_dsn,
    psycopg_module,
    wrap,
    zero_copy_bytea,
)
from seamless_sdk.stores._window import (
    CheckedWrite,
    check_chunk_start,
    check_ranges,
    check_rows_covered,
    check_write,
    clip_bounds,
    inside,
    read_bounds,
    stored_coverage,
    write_items,
)
from seamless_sdk.stores.base import CoveredBars, WindowWrite

__all__ = ["PostgresStore"]

T = TypeVar("T")
Conn = Any  # a psycopg.Connection; psycopg is imported on first use only


class PostgresStore:
    """The shared :class:`~seamless_sdk.stores.base.BarStore` on PostgreSQL.

    ``dsn`` is a libpq URI or key/value string. The tables live in ``schema``
    (created on first use, with a format-version row; a schema holding
    anything else raises ``ForeignStoreError`` and is not changed). At most
    ``pool_size`` statements run at once per store; more callers wait.

    Safe to share between threads. Pickling keeps the DSN, so a store can be
    handed to worker processes, which open their own connections (as does a
    forked child). Errors are ``StoreError``; a server that cannot be reached
    is ``StoreUnavailableError``, after which the store reconnects by itself.
    """

    def __init__(self, dsn: str, *, schema: str = "seamless", pool_size: int = 4) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            raise InvalidRequestError("dsn", f"{dsn!r} is not a PostgreSQL DSN")
        if not isinstance(schema, str) or not _pg_sql.SCHEMA_RE.fullmatch(schema):
            raise InvalidRequestError(
                "schema", f"{schema!r} does not match ^{_pg_sql.SCHEMA_RE.pattern}$"
            )
        if isinstance(pool_size, bool) or not isinstance(pool_size, int):
            raise InvalidRequestError("pool_size", f"{pool_size!r} is not an int")
        check_number("pool_size", pool_size, 1, MAX_WORKERS, integer=True)
        self._psycopg = psycopg_module()
        self._dsn = dsn
        self._schema = schema
        self._pool_size = pool_size
        self._where = f"{describe_dsn(dsn)} (schema {schema})"
        self._sql = _pg_sql.Statements(schema)
        self._pool = Pool(
            dsn, self._where, size=pool_size, keep=pool_size, configure=zero_copy_bytea
        )
        # Session advisory locks belong to a connection: each held lock has its
        # own, never one that reads and writes go through.
        self._locks = AdvisoryLocks(dsn, self._where)
        try:
            self._transaction(self._ensure_schema, "creating the schema")
        except BaseException:
            self.close()
            raise

    def _ensure_schema(self, conn: Conn) -> None:
        # Under a transaction-scoped advisory lock, so hosts starting together
        # create the tables once instead of racing on CREATE TABLE.
        sql = _pg_sql
        conn.execute(sql.SCHEMA_LOCK, {"key": advisory_key("seamless.schema", self._schema)})
        meta = f'"{self._schema}".meta'
        if conn.execute(sql.META_EXISTS, {"meta": meta}).fetchone()[0]:
            self._check_store(conn, meta)
            return
        row = conn.execute(sql.SCHEMA_OBJECTS, {"schema": self._schema}).fetchone()
        objects = 0 if row is None else row[0]  # no row: the schema does not exist yet
        if objects:
            raise ForeignStoreError(
                self._where,
                f"the schema holds {objects} object(s) (tables, functions, types), none ours",
            )
        for statement in self._sql.ddl:
            conn.execute(statement, {"version": str(sql.FORMAT_VERSION)})

    def _check_store(self, conn: Conn, meta: str) -> None:
        """The schema has a ``meta`` table: it must be ours, of our format
        version, with every table of a store beside it."""
        sql = _pg_sql
        columns = conn.execute(sql.META_COLUMNS, {"meta": meta}).fetchone()[0]
        if columns != ["key", "value"]:
            raise ForeignStoreError(
                self._where, f"its meta table has columns {columns}, not a store's (key, value)"
            )
        row = conn.execute(self._sql.version).fetchone()
        version = None if row is None else row[0]
        if version != str(sql.FORMAT_VERSION):
            raise ForeignStoreError(
                self._where,
                f"the schema holds a store of format version {version!r}; this "
                f"Seamless reads version {sql.FORMAT_VERSION}",
            )
        params = {"schema": self._schema, "names": list(sql.STORE_TABLES)}
        present = {r[0] for r in conn.execute(sql.TABLES_PRESENT, params)}
        missing = [t for t in sql.STORE_TABLES if t not in present]
        if missing:
            raise StoreCorruptedError(
                None,
                None,
                None,
                f"{self._where}: its meta says it holds a store, but the table(s) "
                f"{', '.join(missing)} are missing",
                advice="restore the schema from a backup, or drop it and fill it again",
            )

    # -- lifecycle ------------------------------------------------------------
    def close(self) -> None:
        """Close every connection (those in use as they are given back). Using the
        store afterwards raises ``StoreError``; closing twice is harmless."""
        self._pool.close()
        self._locks.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, tuple[str, str, int]]:
        return (_reopen, (self._dsn, self._schema, self._pool_size))

    def __repr__(self) -> str:
        closed = ", closed" if self._pool.closed else ""
        return f"PostgresStore({describe_dsn(self._dsn)!r}, schema={self._schema!r}{closed})"

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding this store's tables."""
        return self._schema

    @property
    def dsn(self) -> str:
        """The DSN this store connects to (the provider's default coordinator,
        ``PostgresCoordinator``, keeps its job table in the same database)."""
        return self._dsn

    def _check_open(self) -> None:
        if self._pool.closed:
            raise StoreError(f"the store at {self._where} is closed")

    # -- plumbing -------------------------------------------------------------
    def _fetch(self, query: bytes, params: tuple[Any, ...], what: str) -> list[tuple[Any, ...]]:
        """Rows of one statement (one snapshot), results in binary. A connection
        the server dropped while it sat idle is retried once on a fresh one."""
        psycopg = self._psycopg
        for attempt in (1, 2):
            with self._pool.connection() as conn:
                try:
                    return conn.execute(query, params, binary=True).fetchall()  # type: ignore[no-any-return]
                except psycopg.Error as exc:
                    if attempt == 1 and conn.broken:
                        continue
                    raise wrap(exc, what) from exc
        raise AssertionError("unreachable")

    def _transaction(self, body: Callable[[Conn], T], what: str) -> T:
        """``body(conn)`` inside one transaction: committed if it returns, rolled
        back if it raises."""
        psycopg = self._psycopg
        try:
            with self._pool.connection() as conn, conn.transaction():
                return body(conn)
        except psycopg.Error as exc:
            raise wrap(exc, what) from exc

    # -- reads ----------------------------------------------------------------
    def read(self, node_id: str, interval: Interval | str, start: int, end: int) -> pd.DataFrame:
        """Stored bars with ``start <= ts < end`` as a stored bar frame (a new
        frame the caller owns; empty, with the right dtypes, if there are none)."""
        return self.read_bars(node_id, interval, start, end).to_frame(flags=True)

    def read_bars(self, node_id: str, interval: Interval | str, start: int, end: int) -> Bars:
        """``read`` as arrays, for the SDK's hot path. Every chunk is checked
        (size, ``ts`` ascending inside its window) before a row of it is used;
        a damaged one raises ``StoreCorruptedError``."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        self._check_open()
        start, end = read_bounds(start, end)
        if end <= start:
            return Bars.empty()
        params = (node_id, iv.seconds, chunk_of(iv, start), end)
        rows = self._fetch(self._sql.read, params, f"read of {node_id} {iv.name}")
        return _series_bars(node_id, iv, start, end, rows)

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
        """``read_bars`` of several series in one statement (one snapshot), each
        series' chunks checked as ``read_bars`` checks them."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        self._check_open()
        start, end = read_bounds(start, end)
        if end <= start or not nodes:
            return {n: Bars.empty() for n in nodes}
        params = (nodes, iv.seconds, chunk_of(iv, start), end)
        what = f"read of {len(nodes)} series of {iv.name}"
        by_node: dict[str, list[tuple[Any, ...]]] = {n: [] for n in nodes}
        for node, *row in self._fetch(self._sql.read_many, params, what):
            by_node[node].append(tuple(row))
        return {n: _series_bars(n, iv, start, end, rows) for n, rows in by_node.items()}

    def read_covered_many(
        self, node_ids: Sequence[str], interval: Interval | str, start: int, end: int
    ) -> dict[str, CoveredBars]:
        """``read_bars_many`` with each series' coverage inside ``[start, end)``,
        in the same statement, so from one snapshot (``stores.base.SnapshotReads``)."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        self._check_open()
        start, end = read_bounds(start, end)
        if end <= start or not nodes:
            return {n: CoveredBars(RangeSet(), Bars.empty()) for n in nodes}
        params = (nodes, iv.seconds, chunk_of(iv, start), end, nodes, iv.seconds, end, start)
        what = f"read of {len(nodes)} series of {iv.name}"
        chunks: dict[str, list[tuple[Any, ...]]] = {n: [] for n in nodes}
        pairs: dict[str, list[tuple[Any, Any]]] = {n: [] for n in nodes}
        for node, kind, a, b, data in self._fetch(self._sql.read_covered_many, params, what):
            if kind == 0:
                chunks[node].append((a, b, data))
            else:
                pairs[node].append((a, b))
        window = RangeSet.span(start, end)
        return {
            n: CoveredBars(
                stored_coverage(n, iv, pairs[n]).intersect(window),
                _series_bars(n, iv, start, end, chunks[n]),
            )
            for n in nodes
        }

    def coverage_many(
        self,
        node_ids: Sequence[str],
        interval: Interval | str,
        start: int | None = None,
        end: int | None = None,
    ) -> dict[str, RangeSet]:
        """``coverage`` of several series in one statement, each clipped to
        ``[start, end)`` when both are given: node id -> RangeSet."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        self._check_open()
        clip = clip_bounds(start, end)
        if not nodes:
            return {}
        lo, hi = (MIN_TIME, MAX_TIME + 1) if clip is None else clip
        pairs: dict[str, list[tuple[int, int]]] = {n: [] for n in nodes}
        params = (nodes, iv.seconds, hi, lo)
        for node, s, e in self._fetch(self._sql.coverage_many, params, "coverage"):
            pairs[node].append((s, e))
        covers = {n: stored_coverage(n, iv, p) for n, p in pairs.items()}
        if clip is None:
            return covers
        window = RangeSet.span(lo, hi)
        return {n: c.intersect(window) for n, c in covers.items()}

    def coverage(self, node_id: str, interval: Interval | str) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that have been checked and stored."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        self._check_open()
        params = (node_id, iv.seconds)
        rows = self._fetch(self._sql.coverage, params, f"coverage of {node_id}")
        return stored_coverage(node_id, iv, rows)

    def series(self) -> list[tuple[str, str]]:
        """Every ``(node_id, interval name)`` that has coverage, sorted."""
        self._check_open()
        return [(str(n), str(i)) for n, i in self._fetch(self._sql.series, (), "listing series")]

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

        The contract of ``LocalStore.write``: ``frame`` is a stored bar frame
        inside the window, every row ends up covered, else ``StoreError`` (bad
        frame) or ``InvalidRequestError`` (bad arguments) and nothing changes.
        Repeating a write leaves identical bytes.
        """
        self.write_many([WindowWrite(node_id, interval, start, end, frame, covered)])

    def write_many(self, writes: Sequence[WindowWrite]) -> None:
        """Apply several window writes in one transaction: all of them or none.
        Each item means what the same ``write`` means, in order; every item is
        checked before any SQL runs."""
        checked = [check_write(w) for w in write_items(writes)]
        self._check_open()
        if checked:
            first = checked[0]
            what = f"write of {first.node_id} {first.iv.name}" + (
                f" and {len(checked) - 1} more window(s)" if len(checked) > 1 else ""
            )
            self._transaction(lambda conn: self._apply(conn, checked), what)

    def _apply(self, conn: Conn, checked: list[CheckedWrite]) -> None:
        # Lock every series first, in one global order, so two batches over the
        # same series cannot deadlock.
        names = {(c.node_id, c.iv.seconds): c.iv.name for c in checked}
        for (node_id, seconds), name in sorted(names.items()):
            conn.execute(self._sql.lock_series, (node_id, seconds, name))
        stored: dict[tuple[str, int], RangeSet] = {}
        cover: dict[tuple[str, int], RangeSet] = {}
        for c in checked:
            key = (c.node_id, c.iv.seconds)
            if key not in stored:
                stored[key] = cover[key] = self._load_coverage(conn, c.node_id, c.iv)
            new = cover[key].union(c.cover)
            check_rows_covered(c.cols.ts, new.clip(c.start, c.end))
            self._put_windows(conn, c)
            cover[key] = new
        for key, new in cover.items():
            self._save_coverage(conn, *key, stored[key], new)

    def _put_windows(self, conn: Conn, c: CheckedWrite) -> None:
        # Every chunk the window touches is replaced; a chunk the window covers
        # only in part keeps its rows outside the window. Earlier items of the
        # batch are already in the table (same transaction), so they are kept too.
        upserts, deletes = [], []
        unit, seconds = c.iv.chunk_unit, c.iv.seconds
        for ws, we in chunk_windows(c.iv, c.start, c.end):
            cs = chunk_of(c.iv, ws)
            lo, hi = np.searchsorted(c.cols.ts, [ws * NS, we * NS])
            rows = c.cols.take(slice(lo, hi))
            if ws != cs or we != window_next(cs, unit):
                kept = self._load_chunk(conn, c.node_id, c.iv, cs)
                if kept is not None:
                    a, b = np.searchsorted(kept.ts, [ws * NS, we * NS])
                    rows = Columns.concat([kept.take(slice(0, a)), rows, kept.take(slice(b, None))])
            if len(rows):
                upserts.append((c.node_id, seconds, cs, len(rows), _rawchunk.encode(rows)))
            else:
                deletes.append((c.node_id, seconds, cs))
        self._put(conn, upserts, deletes)

    def _put(
        self,
        conn: Conn,
        upserts: list[tuple[Any, ...]],
        deletes: list[tuple[Any, ...]],
    ) -> None:
        with conn.cursor() as cur:
            if upserts:
                cur.executemany(self._sql.upsert_chunk, upserts)
            if deletes:
                cur.executemany(self._sql.delete_chunk, deletes)

    def _load_chunk(self, conn: Conn, node_id: str, iv: Interval, cs: int) -> Columns | None:
        """The checked rows of one stored chunk (``None``: there is none)."""
        row = conn.execute(self._sql.chunk, (node_id, iv.seconds, cs), binary=True).fetchone()
        if row is None:
            return None
        nrows, data = row
        problem = _rawchunk.problem(data, nrows, cs * NS, window_next(cs, iv.chunk_unit) * NS)
        if problem is not None:
            raise StoreCorruptedError(node_id, iv.name, cs, problem)
        return _rawchunk.decode(data, nrows)

    def _coverage_rows(self, conn: Conn, node_id: str, seconds: int) -> list[tuple[int, int]]:
        return conn.execute(self._sql.coverage, (node_id, seconds)).fetchall()  # type: ignore[no-any-return]

    def _load_coverage(self, conn: Conn, node_id: str, iv: Interval) -> RangeSet:
        return stored_coverage(node_id, iv, self._coverage_rows(conn, node_id, iv.seconds))

    def _save_coverage(
        self,
        conn: Conn,
        node_id: str,
        seconds: int,
        old: Iterable[tuple[int, int]],
        new: RangeSet,
    ) -> None:
        # Only the ranges that changed are touched; deletes first, since a new
        # range may start where a removed one did.
        before, after = set(old), set(new)
        with conn.cursor() as cur:
            gone = [(node_id, seconds, s) for s, _ in sorted(before - after)]
            if gone:
                cur.executemany(self._sql.delete_range, gone)
            added = [(node_id, seconds, s, e) for s, e in sorted(after - before)]
            if added:
                cur.executemany(self._sql.insert_range, added)

    def remove_coverage(self, node_id: str, interval: Interval | str, ranges: RangeSet) -> None:
        """Forget coverage in ``ranges`` and delete the bars inside them, in one
        transaction (used to repair drift)."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        check_ranges(iv, ranges, "ranges")
        self._check_open()
        if ranges:
            what = f"remove_coverage of {node_id} {iv.name}"
            self._transaction(lambda conn: self._remove(conn, node_id, iv, ranges), what)

    def _remove(self, conn: Conn, node_id: str, iv: Interval, ranges: RangeSet) -> None:
        if conn.execute(self._sql.lock_series_if_exists, (node_id, iv.seconds)).fetchone() is None:
            return  # never written: nothing to forget
        starts: set[int] = set()
        for s, e in ranges:
            params = (node_id, iv.seconds, chunk_of(iv, s), e)
            starts.update(r[0] for r in conn.execute(self._sql.chunk_starts, params))
        upserts, deletes = [], []
        for cs in sorted(starts):
            window_end = window_next(cs, iv.chunk_unit)
            drop = ranges.clip(cs, window_end)
            if drop == RangeSet.span(cs, window_end):
                deletes.append((node_id, iv.seconds, cs))
            elif drop:
                rows = self._load_chunk(conn, node_id, iv, cs)
                if rows is not None:
                    left = rows.take(~inside(rows.ts, drop))
                    if len(left):
                        upserts.append((node_id, iv.seconds, cs, len(left), _rawchunk.encode(left)))
                    else:
                        deletes.append((node_id, iv.seconds, cs))
        self._put(conn, upserts, deletes)
        # The rows as they are, not stored_coverage's check: removing coverage is
        # how damaged coverage rows (which only hand edits make) are dropped.
        rows = self._coverage_rows(conn, node_id, iv.seconds)
        self._save_coverage(conn, node_id, iv.seconds, rows, RangeSet(rows).subtract(ranges))

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
        """An exclusive lock on one chunk, held across threads, processes and
        hosts: a PostgreSQL session advisory lock on a connection of its own,
        so two holders conflict even in one process, and the server drops the
        lock when its holder dies. Not re-entrant. With ``timeout`` (seconds) a
        lock not had in time raises ``StoreError``."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        chunk_start = check_chunk_start(iv, chunk_start)
        self._check_open()
        key = advisory_key("seamless.window", self._schema, node_id, iv.seconds, chunk_start)
        with self._locks.hold(key, timeout, f"window lock of {node_id} chunk {chunk_start}"):
            yield


def _series_bars(
    node_id: str, iv: Interval, start: int, end: int, rows: list[tuple[Any, ...]]
) -> Bars:
    """The bars of one series from its chunk rows ``(chunk_start, nrows, data)``
    in time order, every chunk checked before a row of it is used (the
    ``read_bars`` path, shared by ``read_bars_many``)."""
    if not rows:
        return Bars.empty()
    builder = _rawchunk.BarsBuilder(sum(r[1] for r in rows), start * NS, end * NS)
    unit = iv.chunk_unit
    for cs, nrows, data in rows:
        problem = builder.add(data, nrows, cs * NS, window_next(cs, unit) * NS)
        if problem is not None:
            raise StoreCorruptedError(node_id, iv.name, cs, problem)
    bad = builder.unsorted_chunk()
    if bad is not None:
        raise StoreCorruptedError(node_id, iv.name, rows[bad][0], "ts is not strictly ascending")
    return builder.bars()


def _reopen(dsn: str, schema: str, pool_size: int) -> PostgresStore:
    return PostgresStore(dsn, schema=schema, pool_size=pool_size)
