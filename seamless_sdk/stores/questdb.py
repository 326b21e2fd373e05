"""QuestDBStore: bars in QuestDB, written over ILP/HTTP, read over PostgreSQL wire.

Layout (``_questdb_sql``): one WAL bar table per interval, partitioned by day
for sub-hour bars, with ``DEDUP UPSERT KEYS(ts, node)``; a coverage table
beside them with one row per chunk. QuestDB has no multi-statement (let alone
multi-table) transactions and applies WAL transactions asynchronously, so the
store keeps DESIGN.md's invariants by *ordering*, not by one transaction:

1. **Bars first, then wait.** A write sends the bars of a table in one
   transactional ILP flush (one WAL transaction: all rows or none), then polls
   ``wal_tables()`` until the table's writer has applied everything the
   sequencer had when the flush returned, then reads back the live row count
   of every written window and checks it.
2. **Coverage last.** Only then are the coverage rows sent (one flush, one
   transaction) and applied. A reader that sees the coverage therefore sees
   the bars; a write killed before this point leaves bars that no coverage
   vouches for, which no reader returns and the next fill simply re-writes.
3. **Readers filter by coverage.** ``read`` reads the coverage of its window,
   then the bars, then the coverage again, and returns only bars inside both
   coverage reads (the second read catches a ``remove_coverage`` that ran in
   between, which removes coverage before it deletes bars).

Replacing a window: rows are upserted by ``(ts, node)``, so re-writing (or
re-sending a killed write) never duplicates a bar; bars stored in the window
that the new frame lacks are deleted by upserting tombstones (``gone = true``,
QuestDB 7.4 has no ``DELETE``) in the same transaction. A re-write of a
window that is already covered is visible the moment its transaction is
applied, all of it at once.

``window_lock`` (and the per-series lock around coverage updates) is a local
``flock``, since QuestDB has no advisory locks; given ``lock_dsn``, a
PostgreSQL database every host reaches (normally the coordinator's), both are
PostgreSQL advisory locks instead (``_pg.AdvisoryLocks``, PostgresStore's),
so hosts exclude each other too. See docs/questdb.md for the whole design
and how to test against a server.

>>> store = QuestDBStore("http::addr=localhost:9000;",
...                      "postgresql://admin:quest@localhost:8812/qdb")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from seamless_sdk.bars import NS
from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import Interval, check_time, parse_interval
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id, validate_node_ids
from seamless_sdk.stores import _questdb_sql as sql
from seamless_sdk.stores._arrow import Columns
from seamless_sdk.stores._flock import chunk_lock
from seamless_sdk.stores._pg import AdvisoryLocks, HeldLock, advisory_key, describe_dsn
from seamless_sdk.stores._questdb_ilp import (
    IlpWriter,
    SenderFactory,
    TableBatch,
    bars_frame,
    coverage_frame,
    default_sender,
    tombstone_frame,
)
from seamless_sdk.stores._questdb_pg import PgConnection
from seamless_sdk.stores._questdb_plan import SeriesPlan, check_write, coverage_rows, plan_series
from seamless_sdk.stores._window import (
    CheckedWrite,
    check_chunk_start,
    read_bounds,
    write_items,
)
from seamless_sdk.stores.base import CoveredBars, WindowWrite

__all__ = ["QuestDBStore"]

_US = 1_000_000


class QuestDBStore:
    """A :class:`~seamless_sdk.stores.base.BarStore` on a QuestDB server.

    ``ilp_conf`` is a ``questdb`` client configuration string for ILP over
    HTTP (``"http::addr=localhost:9000;"``; ``https::`` with TLS), ``pg_dsn``
    a libpq URI of the same server's PostgreSQL-wire endpoint
    (``"postgresql://admin:quest@localhost:8812/qdb"``). Nothing connects until
    the store is first used, and ``questdb``/``psycopg`` are imported then.

    ``table_prefix`` names the tables (``<prefix>_bars_1m``,
    ``<prefix>_coverage``); ``apply_timeout_s`` bounds the wait for QuestDB to
    apply a write; ``send_attempts`` is how often a failed ILP flush is sent
    in all; ``lock_dir`` holds ``window_lock``'s lock files (default: a
    directory under the system temp dir). ``lock_dsn``, a libpq URI of a
    PostgreSQL database that every host reaches (the coordinator's), makes
    the locks PostgreSQL advisory locks that exclude across hosts (keyed by
    table prefix, node, interval and chunk, so every host computes the same
    key whatever address it knows the servers by); ``lock_dir`` is then
    unused. Times before 1970 cannot be stored
    (QuestDB's designated timestamp is not negative): writing them raises
    ``InvalidRequestError``, and nothing is ever covered there.
    """

    def __init__(
        self,
        ilp_conf: str,
        pg_dsn: str,
        *,
        table_prefix: str = "seamless",
        apply_timeout_s: float = 30.0,
        send_attempts: int = 3,
        lock_dir: str | os.PathLike[str] | None = None,
        sender_factory: SenderFactory | None = None,
        lock_dsn: str | None = None,
    ) -> None:
        if not isinstance(ilp_conf, str) or not ilp_conf.startswith(("http::", "https::")):
            raise InvalidRequestError(
                "ilp_conf",
                f"{ilp_conf!r} is not an ILP/HTTP configuration such as "
                "'http::addr=localhost:9000;' (transactional writes need HTTP)",
            )
        if not isinstance(pg_dsn, str) or not pg_dsn:
            raise InvalidRequestError("pg_dsn", f"{pg_dsn!r} is not a libpq URI")
        if not apply_timeout_s > 0:
            raise InvalidRequestError("apply_timeout_s", f"{apply_timeout_s!r} must be positive")
        if not isinstance(send_attempts, int) or send_attempts < 1:
            raise InvalidRequestError("send_attempts", f"{send_attempts!r} must be at least 1")
        if lock_dsn is not None and (not isinstance(lock_dsn, str) or not lock_dsn.strip()):
            raise InvalidRequestError("lock_dsn", f"{lock_dsn!r} is not a libpq URI")
        self._ilp_conf = ilp_conf
        self._dsn = pg_dsn
        self._prefix = sql.check_prefix(table_prefix)
        self._apply_timeout_s = float(apply_timeout_s)
        self._send_attempts = send_attempts
        self._custom_sender = sender_factory is not None
        self._pg = PgConnection(pg_dsn)
        self._ilp = IlpWriter(
            ilp_conf, attempts=send_attempts, sender_factory=sender_factory or default_sender
        )
        server = hashlib.sha256(f"{pg_dsn}\0{table_prefix}".encode()).hexdigest()[:16]
        base = Path(lock_dir) if lock_dir is not None else Path(tempfile.gettempdir())
        self._lock_dir = base / "seamless-questdb-locks" / server if lock_dir is None else base
        self._tables: set[str] = set()
        self._lock_dsn = lock_dsn
        self._advisory = (
            AdvisoryLocks(lock_dsn, f"{describe_dsn(lock_dsn)} (QuestDB store locks)")
            if lock_dsn is not None
            else None
        )

    # -- lifecycle ----------------------------------------------------------
    def close(self) -> None:
        """Close the PostgreSQL connection and the ILP sender. Using the store
        afterwards raises ``StoreError``; closing twice is harmless."""
        self._pg.close()
        self._ilp.close()
        if self._advisory is not None:
            self._advisory.close()

    def __enter__(self) -> QuestDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if self._custom_sender:
            raise TypeError("a QuestDBStore with a custom sender_factory cannot be pickled")
        return (
            _reopen,
            (
                self._ilp_conf,
                self._dsn,
                self._prefix,
                self._apply_timeout_s,
                self._send_attempts,
                str(self._lock_dir),
                self._lock_dsn,
            ),
        )

    def __repr__(self) -> str:
        closed = ", closed" if self._pg.closed else ""
        return f"QuestDBStore(table_prefix={self._prefix!r}{closed})"

    @property
    def table_prefix(self) -> str:
        """The prefix of this store's table names."""
        return self._prefix

    def _check_open(self) -> None:
        if self._pg.closed:
            raise StoreError("the QuestDB store is closed")

    def _ensure_tables(self, iv: Interval) -> None:
        # CREATE ... IF NOT EXISTS once per table and process: before the first
        # ILP row, so ILP's auto-create never makes a table without DEDUP.
        for table, ddl in (
            (sql.coverage_table(self._prefix), sql.coverage_ddl(self._prefix)),
            (sql.bars_table(self._prefix, iv), sql.bars_ddl(self._prefix, iv)),
        ):
            if table not in self._tables:
                self._pg.query(ddl)
                self._tables.add(table)

    # -- reads ----------------------------------------------------------------
    def read(self, node_id: str, interval: Interval | str, start: int, end: int) -> pd.DataFrame:
        """Covered bars with ``start <= ts < end`` as a stored bar frame."""
        return self.read_bars(node_id, interval, start, end).to_frame(flags=True)

    def read_bars(self, node_id: str, interval: Interval | str, start: int, end: int) -> Bars:
        """``read`` as arrays, for the SDK's hot path. Only bars that coverage
        vouches for, before and after the bars are read, are returned."""
        node_id = validate_node_id(node_id)
        return self._read_covered(node_id, parse_interval(interval), start, end).bars

    def read_covered_many(
        self, node_ids: Sequence[str], interval: Interval | str, start: int, end: int
    ) -> dict[str, CoveredBars]:
        """Each series' bars of ``[start, end)`` with the coverage that vouched
        for them both before and after they were read (``stores.base.SnapshotReads``
        as near as QuestDB comes: it has no snapshot across statements, so a
        remove and a re-write that both commit during the read can still pass)."""
        nodes = validate_node_ids(node_ids)
        iv = parse_interval(interval)
        return {n: self._read_covered(n, iv, start, end) for n in nodes}

    def _read_covered(self, node_id: str, iv: Interval, start: int, end: int) -> CoveredBars:
        start, end = read_bounds(start, end)
        nothing = CoveredBars(RangeSet(), Bars.empty())
        if end <= start:
            return nothing
        self._check_open()
        lo = max(start, sql.MIN_TIME)
        if end <= lo:
            return nothing
        self._ensure_tables(iv)
        before = self._chunk_coverage(node_id, iv, lo, end)
        if not before:
            return nothing
        rows = self._pg.query(
            sql.read_sql(self._prefix, iv),
            (node_id, sql.ts_param(before.start), sql.ts_param(before.end)),  # type: ignore[arg-type]
        )
        after = self._chunk_coverage(node_id, iv, lo, end)
        both = before.intersect(after).clip(start, end)
        return CoveredBars(both, _bars_of(rows, node_id, iv).rows_in(both))

    def coverage(self, node_id: str, interval: Interval | str) -> RangeSet:
        """Ranges of ``(node_id, interval)`` that have been checked and stored."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        self._check_open()
        self._ensure_tables(iv)
        rows = self._pg.query(sql.coverage_sql(self._prefix, windowed=False), (node_id, iv.seconds))
        return RangeSet().union(*_decode_chunks(rows, node_id, iv).values())

    def series(self) -> list[tuple[str, str]]:
        """Every ``(node_id, interval name)`` that has coverage, sorted."""
        self._check_open()
        table = sql.coverage_table(self._prefix)
        if table not in self._tables:
            self._pg.query(sql.coverage_ddl(self._prefix))
            self._tables.add(table)
        pairs = {(str(n), int(s)) for n, s in self._pg.query(sql.series_sql(self._prefix))}
        return [(n, parse_interval(f"{s}s").name) for n, s in sorted(pairs)]

    def _chunks(self, node_id: str, iv: Interval, lo: int, hi: int) -> dict[int, RangeSet]:
        """Stored coverage of each chunk that overlaps ``[lo, hi)``."""
        params = (node_id, iv.seconds, sql.ts_param(chunk_of(iv, lo)), sql.ts_param(hi))
        return _decode_chunks(
            self._pg.query(sql.coverage_sql(self._prefix, windowed=True), params), node_id, iv
        )

    def _chunk_coverage(self, node_id: str, iv: Interval, lo: int, hi: int) -> RangeSet:
        return RangeSet().union(*self._chunks(node_id, iv, lo, hi).values()).clip(lo, hi)

    def _live_ts_ns(self, node_id: str, iv: Interval, ranges: RangeSet) -> np.ndarray:
        """``ts`` (epoch ns, sorted) of the live bars stored in ``ranges``."""
        query = sql.live_ts_sql(self._prefix, iv)
        parts = [
            np.array([r[0] for r in self._pg.query(query, _span(node_id, s, e))], dtype=np.int64)
            for s, e in ranges
        ]
        ts = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return np.sort(ts) * 1000

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
        """Replace the bars in ``[start, end)`` with ``frame`` and add ``covered``
        (default: the whole window) to coverage, in the order the module
        docstring describes: bars applied and counted before coverage is sent.

        Bad arguments raise ``InvalidRequestError`` or ``StoreError`` before
        anything is sent; a failure later leaves no new coverage.
        """
        self.write_many([WindowWrite(node_id, interval, start, end, frame, covered)])

    def write_many(self, writes: Sequence[WindowWrite]) -> None:
        """Apply several window writes: each means what the same ``write``
        means, in order. Every item is checked before anything is sent; the
        bars of each table go in one transaction, then all coverage of the
        batch in one transaction, so no new window of the batch becomes
        visible unless all of them do. (Bars re-written in windows that were
        covered already are visible once their table's transaction applies.)
        """
        checked = [check_write(w) for w in write_items(writes)]
        self._check_open()
        if not checked:
            return
        plans: list[SeriesPlan] = []
        settled: set[str] = set()
        for (node_id, iv), items in _group(checked).items():
            self._ensure_tables(iv)
            table = sql.bars_table(self._prefix, iv)
            if table not in settled:
                # Plan against every transaction already sent to the table (a
                # killed write's bars may still be waiting to be applied).
                self._wait_applied(table)
                settled.add(table)
            span = RangeSet().union(*(RangeSet.span(s, e) for s, e, _, _ in items))
            if not span:
                continue  # only empty windows (start == end): nothing to replace or cover
            old = self._chunks(node_id, iv, span.start, span.end)  # type: ignore[arg-type]
            existing = self._live_ts_ns(node_id, iv, span)
            plans.append(plan_series(node_id, iv, items, old, existing))
        by_table: dict[str, list[pd.DataFrame]] = {}
        for p in plans:
            frames = by_table.setdefault(sql.bars_table(self._prefix, p.interval), [])
            frames.append(bars_frame(p.node_id, p.rows.ts, p.rows.values, p.rows.flags))
            if len(p.tombstones):
                frames.append(tombstone_frame(p.node_id, p.tombstones))
        for table, frames in by_table.items():
            batch = TableBatch(table, tuple(frames))
            if batch.rows:  # an empty window with nothing stored sends nothing
                self._ilp.send(batch)
        for table in by_table:
            self._wait_applied(table)
        for p in plans:
            self._check_counts(p)
        self._update_coverage([(p.node_id, p.interval, p.added, RangeSet()) for p in plans])

    def _update_coverage(self, changes: Sequence[tuple[str, Interval, RangeSet, RangeSet]]) -> None:
        """Add and remove coverage ``(node, interval, add, remove)`` per series.

        Coverage rows are read, changed and sent under a lock per series on
        this host, so concurrent writers of one series (threads or processes)
        never overwrite each other's coverage. The lock is not the chunk's
        ``window_lock`` (fills hold that around ``write``) and is taken in
        sorted order. With ``lock_dsn`` it is an advisory lock, so writers on
        other hosts are excluded too; without, hosts sharing a server must not
        write one series at once (a coordinator's single flight sees to it).
        """
        keys = sorted({(node_id, iv.seconds) for node_id, iv, _, _ in changes})
        with ExitStack() as stack:
            held = [
                stack.enter_context(self._lock("coverage", node_id, seconds, 0, None))
                for node_id, seconds in keys
            ]
            rows = []
            for node_id, iv, add, remove in changes:
                span = add.union(remove)
                if not span:
                    continue
                stored = self._chunks(node_id, iv, span.start, span.end)  # type: ignore[arg-type]
                rows += coverage_rows(node_id, iv, stored, add=add, remove=remove)
            # An advisory lock whose session ended may be another writer's now:
            # its coverage rows would overwrite theirs, so nothing is sent.
            for lock in held:
                if lock is not None:
                    lock.check()
            self._send_coverage(rows)

    def _check_counts(self, p: SeriesPlan) -> None:
        # The WAL says applied; the count says the rows are the ones we sent
        # (a concurrent writer of the same window would show up here).
        query = sql.count_sql(self._prefix, p.interval)
        for s, e in p.touched:
            lo, hi = np.searchsorted(p.rows.ts, [s * NS, e * NS])
            want = int(hi - lo)
            (got,) = self._pg.query(query, _span(p.node_id, s, e))[0]
            if got != want:
                raise StoreError(
                    f"write of {p.node_id} {p.interval.name} [{s}, {e}): QuestDB holds {got} "
                    f"live bars there after the write, {want} were sent (a concurrent writer?); "
                    "coverage was not marked"
                )

    def _send_coverage(self, rows: list[tuple[str, int, int, str]]) -> None:
        if not rows:
            return
        table = sql.coverage_table(self._prefix)
        self._ilp.send(TableBatch(table, (coverage_frame(rows),)))
        self._wait_applied(table)

    def _wait_applied(self, table: str) -> None:
        """Block until QuestDB has applied every WAL transaction of ``table``
        that its sequencer held when we asked (ours among them)."""
        deadline = time.monotonic() + self._apply_timeout_s
        target: int | None = None
        delay = 0.001
        while True:
            rows = self._pg.query(sql.WAL_SQL, (table,))
            if not rows:
                raise StoreError(f"{table} is not a WAL table of this QuestDB server")
            writer, sequencer, suspended = rows[0]
            if suspended:
                raise StoreError(
                    f"QuestDB suspended applying the WAL of {table} (see its log; "
                    f"ALTER TABLE {table} RESUME WAL); coverage was not marked"
                )
            if target is None:
                target = int(sequencer)
            if int(writer) >= target:
                return
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"QuestDB did not apply the write to {table} within {self._apply_timeout_s} s "
                    f"(writer at txn {writer}, waiting for {target}); coverage was not marked"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def remove_coverage(self, node_id: str, interval: Interval | str, ranges: RangeSet) -> None:
        """Forget coverage in ``ranges``, wait until that is applied, then delete
        the bars there (tombstones). Readers stop returning those bars as soon
        as the coverage is gone, before the bars are."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        if not isinstance(ranges, RangeSet):
            raise InvalidRequestError("ranges", f"expected a RangeSet, got {type(ranges).__name__}")
        for s, e in ranges:
            if not (iv.is_aligned(s) and iv.is_aligned(e)):
                raise InvalidRequestError(
                    "ranges", f"({s}, {e}) is not aligned to the {iv.name} interval"
                )
        if not ranges:
            return
        check_time(ranges.start, "ranges")  # type: ignore[arg-type]
        check_time(ranges.end, "ranges")  # type: ignore[arg-type]
        self._check_open()
        ranges = ranges.clip(sql.MIN_TIME, max(sql.MIN_TIME, ranges.end))  # type: ignore[arg-type]
        if not ranges:
            return
        self._ensure_tables(iv)
        self._update_coverage([(node_id, iv, RangeSet(), ranges)])
        gone = self._live_ts_ns(node_id, iv, ranges)
        if len(gone):
            table = sql.bars_table(self._prefix, iv)
            self._ilp.send(TableBatch(table, (tombstone_frame(node_id, gone),)))
            self._wait_applied(table)

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
        """An exclusive lock on one chunk. Without ``lock_dsn``, across the
        threads and processes of *this host*: ``flock`` on a lock file under
        ``lock_dir`` named by a hash of (server, prefix, node, interval, chunk)
        (QuestDB has no advisory locks). With ``lock_dsn``, across hosts: a
        PostgreSQL session advisory lock, dropped by the server if its holder
        dies. Not re-entrant; with ``timeout`` (seconds) a lock not had in
        time raises ``StoreError``."""
        node_id = validate_node_id(node_id)
        iv = parse_interval(interval)
        chunk_start = check_chunk_start(iv, chunk_start)
        self._check_open()
        with self._lock("window", node_id, iv.seconds, chunk_start, timeout):
            yield

    def _lock(
        self, kind: str, node_id: str, seconds: int, cs: int, timeout: float | None
    ) -> AbstractContextManager[HeldLock | None]:
        """The ``kind`` ("window" or "coverage") lock of one chunk (arguments validated)."""
        if self._advisory is None:
            folder = self._lock_dir if kind == "window" else self._lock_dir / kind
            return chunk_lock(folder, node_id, seconds, cs, timeout)
        key = advisory_key(f"seamless.questdb.{kind}", self._prefix, node_id, seconds, cs)
        return self._advisory.hold(key, timeout, f"{kind} lock of {node_id} chunk {cs}")


def _reopen(
    ilp_conf: str,
    pg_dsn: str,
    prefix: str,
    apply_timeout_s: float,
    send_attempts: int,
    lock_dir: str,
    lock_dsn: str | None = None,
) -> QuestDBStore:
    return QuestDBStore(
        ilp_conf,
        pg_dsn,
        table_prefix=prefix,
        apply_timeout_s=apply_timeout_s,
        send_attempts=send_attempts,
        lock_dir=lock_dir,
        lock_dsn=lock_dsn,
    )


def _span(node_id: str, s: int, e: int) -> tuple[str, Any, Any]:
    return (node_id, sql.ts_param(s), sql.ts_param(e))


def _group(
    checked: Sequence[CheckedWrite],
) -> dict[tuple[str, Interval], list[tuple[int, int, RangeSet, Columns]]]:
    """Writes per series, in the order given."""
    out: dict[tuple[str, Interval], list[tuple[int, int, RangeSet, Columns]]] = {}
    for node_id, iv, start, end, cover, cols in checked:
        out.setdefault((node_id, iv), []).append((start, end, cover, cols))
    return out


def _decode_chunks(rows: list[tuple[Any, ...]], node_id: str, iv: Interval) -> dict[int, RangeSet]:
    chunks: dict[int, RangeSet] = {}
    for ts_us, text in rows:
        cs, rem = divmod(int(ts_us), _US)
        if rem or chunk_of(iv, cs) != cs:
            raise StoreCorruptedError(node_id, iv.name, cs, f"coverage row at {ts_us} us")
        chunks[cs] = sql.decode_ranges(text, node_id, iv, cs)
    return chunks


def _bars_of(rows: list[tuple[Any, ...]], node_id: str, iv: Interval) -> Bars:
    """Query rows ``(ts_us, open, high, low, close, volume, flags)`` as Bars."""
    n = len(rows)
    if n == 0:
        return Bars.empty()
    # One float64 block; ts in microseconds of whole seconds is an exact float
    # (a multiple of 10**6, even past 2**53). fromiter over the flattened rows
    # is the fastest way in; a null (None) needs np.array, which makes it NaN.
    try:
        flat = itertools.chain.from_iterable(rows)
        block = np.fromiter(flat, dtype=np.float64, count=n * 7).reshape(n, 7)
    except TypeError:
        block = np.array(rows, dtype=np.float64)
    wide = np.empty((6, n), np.int64)
    wide[0] = block[:, 0].astype(np.int64) * 1000
    wide[1:] = np.ascontiguousarray(block[:, 1:6].T).view(np.int64)
    ts = wide[0]
    if n > 1 and not (ts[1:] > ts[:-1]).all():
        raise StoreCorruptedError(node_id, iv.name, None, "bars are not unique and ascending")
    return Bars(wide, block[:, 6].astype(np.int32))
