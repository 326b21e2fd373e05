"""The SQL side of QuestDBStore: table names, DDL, queries, coverage rows and
the values bound to them. Pure functions: nothing here talks to a server, so
all of it is tested without one.

Two kinds of tables, created by the store before its first ILP write (so
ILP's auto-create never makes a table without deduplication):

* ``<prefix>_bars_<interval>``, one per interval (``seamless_bars_1m``): a WAL
  table with ``DEDUP UPSERT KEYS(ts, node)``, so a re-sent row replaces the
  stored one instead of adding a second. One table per interval keeps the
  dedup key exactly ``(ts, node)``: a 1h bar and a 1m bar of one node at the
  same ``ts`` never collide. ``gone`` marks a *tombstone*: QuestDB 7.4 has no
  ``DELETE``, so a bar that must disappear is upserted as a row with
  ``gone = true`` and every query skips those.
* ``<prefix>_coverage``: one row per ``(chunk_start, node, interval_s)``
  holding the chunk's covered ranges as text (``"s-e,s-e"``, absolute epoch
  seconds; ``""`` once all coverage of the chunk is removed), also a WAL table
  with ``DEDUP UPSERT KEYS(ts, node, interval_s)``: each write replaces whole
  chunk rows, so writes to different chunks never overwrite each other.

Node ids reach SQL only as bound parameters (and are validated before);
table names are built from a validated prefix and a parsed interval's name.
Timestamps are bound as naive UTC ``datetime`` values, as QuestDB expects.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError
from seamless_sdk.intervals import DAY, Interval, window_next
from seamless_sdk.ranges import RangeSet

PREFIX_RE = re.compile(r"[a-z][a-z0-9_]{0,39}", re.ASCII)
_EPOCH = datetime(1970, 1, 1)  # naive: QuestDB's TIMESTAMP has no zone, and means UTC
_RANGE_RE = re.compile(r"(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})", re.ASCII)
MIN_TIME = 0
"""The first time QuestDB can store: its designated timestamp cannot be negative."""


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a safe table-name prefix, else ``InvalidRequestError``."""
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix):
        raise InvalidRequestError(
            "table_prefix", f"{prefix!r} does not match ^{PREFIX_RE.pattern}$"
        )
    return prefix


def bars_table(prefix: str, iv: Interval) -> str:
    """The bar table of one interval: ``seamless_bars_1m``."""
    return f"{prefix}_bars_{iv.name}"


def coverage_table(prefix: str) -> str:
    """The coverage table beside the bars."""
    return f"{prefix}_coverage"


def partition_unit(iv: Interval) -> str:
    """Day partitions for sub-hour bars (DESIGN.md); hour and day bars would
    leave one or 24 rows per day partition, so they get month and year ones."""
    if iv.seconds < 3600:
        return "DAY"
    return "MONTH" if iv.seconds < DAY else "YEAR"


def bars_ddl(prefix: str, iv: Interval) -> str:
    """``CREATE TABLE`` of one interval's bars (idempotent)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {bars_table(prefix, iv)} ("
        "node SYMBOL CAPACITY 4096 CACHE, open DOUBLE, high DOUBLE, low DOUBLE, "
        "close DOUBLE, volume DOUBLE, flags INT, gone BOOLEAN, ts TIMESTAMP"
        f") TIMESTAMP(ts) PARTITION BY {partition_unit(iv)} WAL "
        "DEDUP UPSERT KEYS(ts, node)"
    )


def coverage_ddl(prefix: str) -> str:
    """``CREATE TABLE`` of the coverage table (idempotent)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {coverage_table(prefix)} ("
        "node SYMBOL CAPACITY 4096 CACHE, interval_s INT, ranges STRING, ts TIMESTAMP"
        ") TIMESTAMP(ts) PARTITION BY YEAR WAL DEDUP UPSERT KEYS(ts, node, interval_s)"
    )


def read_sql(prefix: str, iv: Interval) -> str:
    """Live bars of one node in ``[start, end)``; ``ts`` as epoch microseconds,
    which psycopg decodes in C (a ``datetime`` per row would cost more)."""
    return (
        "SELECT cast(ts AS LONG), open, high, low, close, volume, flags "
        f"FROM {bars_table(prefix, iv)} "
        "WHERE node = %s AND ts >= %s AND ts < %s AND NOT gone ORDER BY ts"
    )


def live_ts_sql(prefix: str, iv: Interval) -> str:
    """``ts`` (epoch microseconds) of the live bars of one node in ``[start, end)``."""
    return (
        f"SELECT cast(ts AS LONG) FROM {bars_table(prefix, iv)} "
        "WHERE node = %s AND ts >= %s AND ts < %s AND NOT gone"
    )


def count_sql(prefix: str, iv: Interval) -> str:
    """How many live bars one node has in ``[start, end)``."""
    return (
        f"SELECT count() FROM {bars_table(prefix, iv)} "
        "WHERE node = %s AND ts >= %s AND ts < %s AND NOT gone"
    )


def coverage_sql(prefix: str, *, windowed: bool) -> str:
    """Coverage rows of one series (``%s`` node, interval seconds), optionally
    only the chunks starting in ``[first chunk, end)``."""
    sql = (
        f"SELECT cast(ts AS LONG), ranges FROM {coverage_table(prefix)} "
        "WHERE node = %s AND interval_s = %s"
    )
    if windowed:
        sql += " AND ts >= %s AND ts < %s"
    return sql + " ORDER BY ts"


def series_sql(prefix: str) -> str:
    """Every ``(node, interval_s)`` with some coverage."""
    return f"SELECT DISTINCT node, interval_s FROM {coverage_table(prefix)} WHERE ranges != ''"


WAL_SQL = "SELECT writerTxn, sequencerTxn, suspended FROM wal_tables() WHERE name = %s"
"""How far a WAL table has been applied (``writerTxn``) of what it was sent
(``sequencerTxn``), and whether applying it has stopped on an error."""


def ts_param(seconds: int) -> datetime:
    """Epoch seconds as the naive UTC ``datetime`` QuestDB compares ``ts`` with."""
    return _EPOCH + timedelta(seconds=seconds)


def aware(seconds: int) -> datetime:
    """Epoch seconds as an aware UTC ``datetime`` (for the ILP client's ``at``)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def encode_ranges(ranges: RangeSet) -> str:
    """A chunk's coverage as coverage-row text: ``"0-3600,7200-86400"``."""
    return ",".join(f"{s}-{e}" for s, e in ranges)


def decode_ranges(text: object, node_id: str, iv: Interval, chunk_start: int) -> RangeSet:
    """Coverage-row text back to a RangeSet; anything that is not what
    :func:`encode_ranges` writes, or lies outside its chunk, is damage."""
    if text is None or text == "":
        return RangeSet()
    if not isinstance(text, str):
        raise StoreCorruptedError(node_id, iv.name, chunk_start, f"coverage is {text!r}")
    chunk_end = window_next(chunk_start, iv.chunk_unit)
    pairs = []
    for part in text.split(","):
        m = _RANGE_RE.fullmatch(part)
        if m is None:
            raise StoreCorruptedError(node_id, iv.name, chunk_start, f"coverage {text!r}")
        s, e = int(m.group(1)), int(m.group(2))
        if not chunk_start <= s < e <= chunk_end or not (iv.is_aligned(s) and iv.is_aligned(e)):
            raise StoreCorruptedError(node_id, iv.name, chunk_start, f"coverage range {part!r}")
        pairs.append((s, e))
    return RangeSet(pairs)
