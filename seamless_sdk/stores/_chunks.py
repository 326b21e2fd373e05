"""Chunk rows of LocalStore: written with their checksum, read back verified.

Every chunk window that coverage touches has a row, an empty one if the
window has no bars (a holiday, a quiet hour), and no other window has one. So
a row that vanished (a damaged index or B-tree page can make SQLite skip rows
without an error) shows up as a covered window without a row, instead of as
bars silently missing from an answer.

Every path that reads a chunk's bytes checks them before using them: the read
path (``LocalStore.read_bars``, inline for speed), a partial replace that keeps
part of an old chunk, ``remove_coverage``, ``verify`` and ``repair``. A
damaged chunk is never used, and never rewritten with a fresh checksum that
would hide the damage.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.intervals import (
    MAX_TIME,
    MIN_TIME,
    Interval,
    iter_windows,
    parse_interval,
    window_next,
)
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _sqlite
from seamless_sdk.stores._arrow import Columns, decode, encode, ts_problem
from seamless_sdk.stores._checksum import chunk_crc, series_seed

NS = 1_000_000_000


def bounds_ns(iv: Interval, cs: int) -> tuple[int, int]:
    """The chunk window starting at ``cs`` in epoch nanoseconds."""
    return cs * NS, window_next(cs, iv.chunk_unit) * NS


def put_chunk(
    conn: sqlite3.Connection,
    node_id: str,
    iv: Interval,
    cs: int,
    rows: Columns,
    *,
    covered: bool,
) -> None:
    """Store ``rows`` as the chunk at ``cs`` with its checksum. ``covered`` says
    whether coverage touches the chunk's window after this write: an empty
    chunk is then stored as an empty row, else deleted. Call inside a write
    transaction."""
    if len(rows) or covered:
        blob = encode(rows)
        crc = chunk_crc(series_seed(node_id, iv.seconds), cs, len(rows), blob)
        params = (node_id, iv.seconds, cs, len(rows), memoryview(blob), crc)
        conn.execute(_sqlite.UPSERT_SQL, params)
    else:
        conn.execute(_sqlite.DELETE_SQL, (node_id, iv.seconds, cs))


def load_chunk(conn: sqlite3.Connection, node_id: str, iv: Interval, cs: int) -> Columns | None:
    """The verified rows of the chunk at ``cs``, ``None`` if there is none;
    ``StoreCorruptedError`` if it is damaged."""
    row = conn.execute(_sqlite.CHUNK_SQL, (node_id, iv.seconds, cs)).fetchone()
    if row is None:
        return None
    nrows, crc, blob = row
    problem = chunk_problem(node_id, iv.seconds, cs, nrows, crc, blob)
    if problem is not None:
        raise StoreCorruptedError(node_id, iv.name, cs, problem)
    return decode(blob)


def covered_chunks(
    iv: Interval,
    cover: RangeSet | list[tuple[int, int]],
    lo: int | None = None,
    hi: int | None = None,
) -> Iterator[int]:
    """Starts of the chunk windows that ``cover`` (sorted disjoint ranges),
    clipped to ``[lo, hi)`` when given, touches: in order, once each."""
    last = None
    for s, e in cover:
        if lo is not None and hi is not None:
            s, e = max(s, lo), min(e, hi)
        for ws, _ in iter_windows(s, e, iv.chunk_unit):
            cs = chunk_of(iv, ws)
            if cs != last:
                yield cs
                last = cs


def missing_chunk(node_id: str, iv: Interval, cs: int) -> StoreCorruptedError:
    """The error for a covered window whose row is gone."""
    return StoreCorruptedError(
        node_id, iv.name, cs, "missing: coverage vouches for this chunk but it has no row"
    )


def interval_name(interval_s: object) -> str:
    """The interval's name for a report, even for a damaged ``interval_s``."""
    try:
        return parse_interval(f"{interval_s}s").name
    except InvalidRequestError:
        return f"{interval_s!r}s"


def chunk_problem(
    node_id: object,
    interval_s: object,
    cs: object,
    nrows: object,
    crc: object,
    blob: object,
    *,
    check_crc: bool = True,
) -> str | None:
    """Everything that can be wrong with one chunk row, or ``None``.

    The thorough check ``verify`` and upgrades use: the key's types and
    values, the checksum (unless ``check_crc`` is false: an upgrade computing
    checksums for the first time), the Arrow layout, the row count, and ``ts``
    (strictly ascending, inside the chunk, on the interval's grid). Values read
    from a damaged file may have any type, hence ``object``.
    """
    if not (
        isinstance(node_id, str)
        and isinstance(interval_s, int)
        and isinstance(cs, int)
        and isinstance(nrows, int)
        and isinstance(blob, bytes)
    ):
        return "its key, row count or data has the wrong type"
    if nrows < 0:
        return f"row count {nrows}"
    if check_crc:
        if crc is None:
            return "it has no checksum (it failed validation when the file was upgraded)"
        if crc != chunk_crc(series_seed(node_id, interval_s), cs, nrows, blob):
            return "checksum mismatch"
    try:
        iv = parse_interval(f"{interval_s}s")
    except InvalidRequestError:
        return f"interval_s {interval_s} is not an interval"
    if chunk_of(iv, cs) != cs:
        return f"chunk_start {cs} is not the start of a {iv.chunk_unit} chunk"
    try:
        cols = decode(blob)
    except StoreError as exc:
        return str(exc).removeprefix("chunk: ")
    if len(cols) != nrows:
        return f"holds {len(cols)} rows, its row count says {nrows}"
    if nrows == 0:
        return None  # a covered window without bars
    problem = ts_problem(cols.ts, *bounds_ns(iv, cs))
    if problem is not None:
        return problem
    if (cols.ts % (iv.seconds * NS)).any():
        return f"ts not aligned to the {iv.name} interval"
    return None


def ts_chunks(iv: Interval, blob: bytes) -> set[int]:
    """Starts of the chunks that a damaged blob's first and last ``ts`` fall in,
    if it still decodes: where its rows came from when its key is what broke."""
    try:
        ts = decode(blob).ts
    except StoreError:
        return set()
    if not len(ts):
        return set()
    out = set()
    for t in (int(ts[0]), int(ts[-1])):
        if t % NS == 0 and MIN_TIME <= t // NS <= MAX_TIME:
            out.add(chunk_of(iv, t // NS))
    return out
