"""Finding and dropping damaged data in a LocalStore file (``verify``, ``repair``).

``find_damage`` runs SQLite's ``integrity_check`` of the file's structure,
then checks every chunk row thoroughly (``_chunks.chunk_problem``), every
coverage row's checksum, and that chunk rows and coverage agree: every window
coverage touches has a row (else the row is *missing*) and no other window
has one (else it is *uncovered*: its coverage was lost).

``repair`` deletes what is damaged in one transaction: damaged and uncovered
chunks, damaged coverage rows, and the coverage of the windows whose chunk was
dropped or is missing (so the next fill fetches them again); then it deletes
any stored bar that coverage no longer vouches for (invariant 1).

Text columns are read as bytes and decoded here, so a damaged byte in a node
id is a finding, not a ``UnicodeDecodeError``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import numpy as np

from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError
from seamless_sdk.intervals import Interval, parse_interval, window_next
from seamless_sdk.intervals import chunk_start as chunk_of
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _sqlite
from seamless_sdk.stores._checksum import coverage_crc
from seamless_sdk.stores._chunks import (
    NS,
    chunk_problem,
    covered_chunks,
    interval_name,
    load_chunk,
    put_chunk,
    ts_chunks,
)

_MAX_STRUCTURE_PROBLEMS = 20
_INDEX_PROBLEMS = ("missing from index", "wrong # of entries in index", "non-unique entry in index")
Series = tuple[str, int]  # (node_id, interval_s)


@dataclass(frozen=True, slots=True, order=True)
class DamagedChunk:
    """One damaged chunk (or coverage row) of a store: its series, the chunk's
    start in epoch seconds (for a coverage row, the chunk its range starts
    in), and what is wrong with it."""

    node_id: str
    interval: str
    chunk_start: int
    reason: str


@dataclass(slots=True)
class Damage:
    """Everything ``find_damage`` found, with what ``repair`` needs to drop it."""

    reports: list[DamagedChunk] = field(default_factory=list)
    rowids: list[int] = field(default_factory=list)  # chunk rows to delete
    coverage_keys: list[tuple[bytes, object, object]] = field(default_factory=list)
    uncover: dict[Series, set[int]] = field(default_factory=dict)  # chunk windows to forget


def structure_problems(conn: sqlite3.Connection) -> list[str]:
    """SQLite's ``integrity_check`` findings (empty when the file is sound)."""
    try:
        rows = conn.execute(f"PRAGMA integrity_check({_MAX_STRUCTURE_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def structure_error(problems: list[str]) -> StoreCorruptedError:
    """The error for a file whose SQLite structure is broken. A damaged index
    is rebuilt by ``repair``; any other broken B-tree it cannot fix."""
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    if _index_only(problems):
        advice = "An index is damaged: `seamless store repair` rebuilds it"
    else:
        advice = (
            "Repair cannot fix the file's structure: delete the file (reads fetch "
            "everything again) or restore a copy"
        )
    return StoreCorruptedError(
        None, None, None, f"SQLite's integrity check failed: {shown}", advice=advice
    )


def _index_only(problems: list[str]) -> bool:
    return bool(problems) and all(any(p in s for p in _INDEX_PROBLEMS) for s in problems)


def find_damage(conn: sqlite3.Connection, *, check_structure: bool = True) -> Damage:
    """Check the whole store; call inside one transaction so the answer is
    about one snapshot. Raises ``StoreCorruptedError`` if the file's structure
    itself is damaged."""
    problems = structure_problems(conn) if check_structure else []
    if problems:
        raise structure_error(problems)
    damage = Damage()
    try:
        present = _find_chunks(conn, damage)
        cover = _find_coverage(conn, damage)
    except sqlite3.DatabaseError as exc:
        raise StoreCorruptedError(None, None, None, f"SQLite: {exc}") from exc
    _cross_check(present, cover, damage)
    damage.reports.sort()
    return damage


def _text(raw: object) -> str | None:
    if isinstance(raw, bytes):
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None
    return None


def _interval(interval_s: object) -> Interval | None:
    try:
        return parse_interval(f"{interval_s}s") if isinstance(interval_s, int) else None
    except InvalidRequestError:
        return None


def _find_chunks(conn: sqlite3.Connection, damage: Damage) -> dict[Series, dict[int, int]]:
    """Report damaged chunk rows; return the sound ones, series -> {chunk_start: rowid}."""
    present: dict[Series, dict[int, int]] = {}
    rows = conn.execute(
        "SELECT rowid, CAST(node_id AS BLOB), typeof(node_id), interval_s, chunk_start, nrows,"
        " crc, data FROM chunks"
    )
    for rowid, raw_node, node_type, interval_s, cs, nrows, crc, blob in rows:
        node = _text(raw_node)
        # A node id stored as a BLOB (one flipped bit of the record header)
        # decodes and checksums fine, but no read's `node_id = ?` matches it.
        problem = (
            chunk_problem(node, interval_s, cs, nrows, crc, blob)
            if node_type == "text"
            else f"its node id is stored as {node_type}, not text"
        )
        iv = _interval(interval_s)
        if problem is None and node is not None and iv is not None:
            present.setdefault((node, iv.seconds), {})[cs] = rowid
            continue
        shown = node if node is not None else repr(raw_node)
        where = cs if isinstance(cs, int) else 0
        damage.reports.append(DamagedChunk(shown, interval_name(interval_s), where, str(problem)))
        damage.rowids.append(rowid)
        if node is None or iv is None:
            continue  # no series to uncover: its key is what broke
        starts = {cs} if isinstance(cs, int) and chunk_of(iv, cs) == cs else set()
        if isinstance(blob, bytes):
            starts |= ts_chunks(iv, blob)  # where its rows were, if its key broke
        damage.uncover.setdefault((node, iv.seconds), set()).update(starts)
    return present


def _find_coverage(conn: sqlite3.Connection, damage: Damage) -> dict[Series, RangeSet]:
    """Report damaged coverage rows; return the sound coverage of each series."""
    pairs: dict[Series, list[tuple[int, int]]] = {}
    rows = conn.execute(
        "SELECT CAST(node_id AS BLOB), typeof(node_id) = 'text', interval_s,"
        " CAST(interval AS BLOB), range_start, range_end, crc FROM coverage"
    )
    for raw_node, node_is_text, interval_s, raw_interval, start, end, crc in rows:
        node, interval = _text(raw_node), _text(raw_interval)
        iv = _interval(interval_s)
        sound = node_is_text and node is not None and interval is not None and iv is not None
        sound = sound and all(isinstance(v, int) for v in (interval_s, start, end))
        if sound and crc == coverage_crc(node, interval_s, interval, start, end):  # type: ignore[arg-type]
            pairs.setdefault((node, iv.seconds), []).append((start, end))  # type: ignore[arg-type, union-attr]
            continue
        cs = start if isinstance(start, int) else 0
        if iv is not None and isinstance(start, int):
            cs = chunk_of(iv, start)
        shown = node if node is not None else repr(raw_node)
        damage.reports.append(
            DamagedChunk(
                shown,
                interval if interval is not None else interval_name(interval_s),
                cs,
                f"coverage row [{start!r}, {end!r}) fails its checksum",
            )
        )
        damage.coverage_keys.append((raw_node, interval_s, start))
    return {series: RangeSet(p) for series, p in pairs.items()}


def _cross_check(
    present: dict[Series, dict[int, int]], cover: dict[Series, RangeSet], damage: Damage
) -> None:
    # By interval too: a row whose interval_s broke (60 -> 61) is another
    # series' damage, and the 1m window it leaves without a row is missing.
    damaged = {(r.node_id, r.interval, r.chunk_start) for r in damage.reports}
    for (node, interval_s), ranges in cover.items():
        iv = parse_interval(f"{interval_s}s")
        rows = present.get((node, interval_s), {})
        for cs in covered_chunks(iv, ranges):
            if cs not in rows and (node, iv.name, cs) not in damaged:
                damage.reports.append(
                    DamagedChunk(
                        node,
                        iv.name,
                        cs,
                        "missing: coverage vouches for this chunk but it has no row",
                    )
                )
                damage.uncover.setdefault((node, interval_s), set()).add(cs)
    for (node, interval_s), rows in present.items():
        iv = parse_interval(f"{interval_s}s")
        ranges = cover.get((node, interval_s), RangeSet())
        for cs, rowid in rows.items():
            if not ranges.clip(cs, window_next(cs, iv.chunk_unit)):
                reason = "uncovered: no coverage vouches for its bars (its coverage was lost)"
                damage.reports.append(DamagedChunk(node, iv.name, cs, reason))
                damage.rowids.append(rowid)


def repair(conn: sqlite3.Connection) -> list[DamagedChunk]:
    """Drop everything damaged and return what was dropped. Call inside a
    write transaction (``_sqlite.immediate``): all of it commits, or none."""
    problems = structure_problems(conn)
    if _index_only(problems):
        conn.execute("REINDEX")  # an index is rebuilt from its table
        problems = structure_problems(conn)
    if problems:
        raise structure_error(problems)
    damage = find_damage(conn, check_structure=False)
    if not damage.reports:
        return []
    for raw_node, interval_s, start in damage.coverage_keys:
        conn.execute(
            "DELETE FROM coverage WHERE CAST(node_id AS BLOB) = ? AND interval_s = ?"
            " AND range_start = ?",
            (raw_node, interval_s, start),
        )
    conn.executemany("DELETE FROM chunks WHERE rowid = ?", [(r,) for r in damage.rowids])
    series = conn.execute(
        "SELECT DISTINCT node_id, interval_s FROM chunks UNION "
        "SELECT DISTINCT node_id, interval_s FROM coverage"
    ).fetchall()
    for node, interval_s in series:
        iv = parse_interval(f"{interval_s}s")
        _reconcile(conn, node, iv, damage.uncover.get((node, interval_s), set()))
    return damage.reports


def _reconcile(conn: sqlite3.Connection, node: str, iv: Interval, uncover: set[int]) -> None:
    # Forget the windows of dropped and missing chunks, then delete every stored
    # bar that coverage no longer vouches for (a dropped coverage row's included).
    old = _sqlite.load_coverage(conn, node, iv.seconds)
    cover = old.subtract(RangeSet([(cs, window_next(cs, iv.chunk_unit)) for cs in uncover]))
    if cover != old:
        _sqlite.save_coverage(conn, node, iv.seconds, iv.name, old, cover)
    starts = [
        r[0]
        for r in conn.execute(
            "SELECT chunk_start FROM chunks WHERE node_id = ? AND interval_s = ?",
            (node, iv.seconds),
        )
    ]
    for cs in starts:
        rows = load_chunk(conn, node, iv, cs)
        if rows is None:
            continue
        covered = cover.clip(cs, window_next(cs, iv.chunk_unit))
        keep = _inside(rows.ts, covered)
        if not covered or not keep.all():
            put_chunk(conn, node, iv, cs, rows.take(keep), covered=bool(covered))


def _inside(ts_ns: np.ndarray, ranges: RangeSet) -> np.ndarray:
    mask = np.zeros(len(ts_ns), dtype=bool)
    for s, e in ranges:
        lo, hi = np.searchsorted(ts_ns, [s * NS, e * NS])
        mask[lo:hi] = True
    return mask
