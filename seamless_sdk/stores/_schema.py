"""What makes a SQLite file a Seamless store, and how older ones are upgraded.

A store is marked in the SQLite header: ``PRAGMA application_id`` holds
:data:`APPLICATION_ID` and ``PRAGMA user_version`` the format version. Opening
a file classifies it before anything is written:

* an empty file (no tables, no marks) is a new store: it is initialised;
* ours at :data:`FORMAT_VERSION`: used as it is;
* ours at an older version, or a version-1 file (written before files were
  marked: no application id, ``user_version`` 1 and exactly our two tables):
  upgraded in one transaction;
* ours at a newer version, another application id, or unmarked with other
  tables: ``ForeignStoreError``, and the file is left untouched.

Versions: 1 had ``chunks`` and ``coverage`` without checksums; 2 adds a
``crc`` column to both (``_checksum``) and the header marks. Every store,
new or old, reaches the current version by the same chain of steps, so a new
file and an upgraded one have the same schema.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seamless_sdk.errors import ForeignStoreError, InvalidRequestError, StoreCorruptedError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.pids import pid_alive
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _sqlite
from seamless_sdk.stores._arrow import Columns
from seamless_sdk.stores._checksum import chunk_crc, coverage_crc, series_seed
from seamless_sdk.stores._chunks import chunk_problem, covered_chunks, put_chunk

APPLICATION_ID = 0x53454D4C  # "SEML"
"""The ``PRAGMA application_id`` of every Seamless store file."""
FORMAT_VERSION = 2
"""The ``PRAGMA user_version`` this code writes; it reads no other."""
_FIRST_MARKED_VERSION = 2  # version 1 files carry no application_id

_V1_TABLES = {
    "chunks": ["node_id", "interval_s", "chunk_start", "nrows", "data"],
    "coverage": ["node_id", "interval_s", "interval", "range_start", "range_end"],
}
_V2_TABLES = {name: [*columns, "crc"] for name, columns in _V1_TABLES.items()}
_NO_ROWS = Columns(
    np.empty(0, np.int64), tuple(np.empty(0, np.float64) for _ in range(5)), np.empty(0, np.int32)
)
_CHUNK_STARTS = "SELECT chunk_start FROM chunks WHERE node_id = ? AND interval_s = ?"
_V1_SCHEMA = (
    """CREATE TABLE chunks (
        node_id TEXT NOT NULL,
        interval_s INTEGER NOT NULL,
        chunk_start INTEGER NOT NULL,
        nrows INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (node_id, interval_s, chunk_start)
    )""",
    """CREATE TABLE coverage (
        node_id TEXT NOT NULL,
        interval_s INTEGER NOT NULL,
        interval TEXT NOT NULL,
        range_start INTEGER NOT NULL,
        range_end INTEGER NOT NULL,
        PRIMARY KEY (node_id, interval_s, range_start)
    ) WITHOUT ROWID""",
)


def version_of(conn: sqlite3.Connection, path: Path) -> int:
    """The format version of the file behind ``conn``: 0 for an empty file (a
    new store), else 1 to :data:`FORMAT_VERSION`. Reads only; raises
    ``ForeignStoreError`` for anything that is not one of our files."""
    # One snapshot: read apart, a store another process was creating showed
    # no application id yet but its tables already (a "foreign" file).
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        objects = conn.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
    finally:
        if own:
            conn.execute("ROLLBACK")
    if app == APPLICATION_ID:
        if version > FORMAT_VERSION:
            raise ForeignStoreError(
                str(path),
                f"a Seamless store of format version {version}, written by a newer Seamless "
                f"(this one reads version {FORMAT_VERSION}); upgrade seamless to open it",
            )
        if version < _FIRST_MARKED_VERSION:
            raise ForeignStoreError(
                str(path), f"marked as a Seamless store but of unknown format version {version}"
            )
        if not _has_tables(conn, objects, _V2_TABLES):
            raise StoreCorruptedError(
                None, None, None, f"{path} is marked as a Seamless store but its schema is damaged"
            )
        return version
    if app != 0:
        raise ForeignStoreError(
            str(path),
            f"another application's SQLite file (application_id {app:#010x}), not a Seamless store",
        )
    if not objects and version == 0:
        return 0
    if version == 1 and _has_tables(conn, objects, _V1_TABLES):
        return 1
    tables = sorted(name for kind, name in objects if kind == "table")
    raise ForeignStoreError(
        str(path),
        "another application's SQLite file, not a Seamless store "
        f"(no Seamless application_id; user_version {version}; tables {tables})",
    )


def _has_tables(
    conn: sqlite3.Connection, objects: list[tuple[str, str]], expected: dict[str, list[str]]
) -> bool:
    """Whether the file holds exactly the ``expected`` tables and columns."""
    tables = {name for kind, name in objects if kind == "table"}
    others = {name for kind, name in objects if kind != "table" and not name.startswith("sqlite_")}
    if tables != set(expected) or others:
        return False
    return all(
        [row[1] for row in conn.execute(f"PRAGMA table_info({name})")] == columns
        for name, columns in expected.items()  # names from our own constant, not the file
    )


def create(path: Path) -> None:
    """A new, current store at ``path`` (which does not exist yet), whole before
    it appears there: built in a temporary file beside it, closed (so its WAL
    is checkpointed into it), then hard-linked into place. A process opening
    ``path`` at that moment never sees a half-written header, which it would
    take for a foreign file. If another process made ``path`` first, its store
    is kept and this one's copy dropped. Where hard links do not work, the
    store is created in place as before."""
    # Named so that sweep_temporaries knows it (_TEMP_TAIL) if this process dies.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        conn = _sqlite.connect(tmp)
        try:
            ensure_current(conn, tmp)
        finally:
            conn.close()
        os.link(tmp, path)
    except FileExistsError:
        return  # another process created it first: open that one
    except (OSError, sqlite3.Error):
        # No hard links here, or the copy could not be made: the open creates
        # the store in place, and its errors say why if it cannot.
        return
    finally:
        for leftover in (tmp, *(tmp.with_name(tmp.name + s) for s in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)


_TEMP_TAIL = re.compile(r"(?P<pid>[0-9]+)\.[0-9a-f]{8}\.new(?:-wal|-shm)?")
"""What follows ``.<store name>.`` in the name of a temporary file of
:func:`create` (and of its WAL and shared-memory files)."""

TEMP_MIN_AGE_S = 60.0
"""How old a dead creator's temporary file must be before it is removed. A
creation takes milliseconds; the age keeps a file whose creator is alive but
looks dead from here (another PID namespace sharing the directory) safe."""


def sweep_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files :func:`create` left beside ``path`` when its
    process was killed before cleaning up (kill -9 while the store was being
    built), and return them. Only files of a process no longer alive on this
    host and older than :data:`TEMP_MIN_AGE_S` are removed; a file that
    cannot be removed is left for the next sweep."""
    prefix = f".{path.name}."
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed  # an unreadable directory: the open reports what matters
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        tail = _TEMP_TAIL.fullmatch(entry.name[len(prefix) :])
        if tail is None or pid_alive(int(tail["pid"])):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < TEMP_MIN_AGE_S:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def ensure_current(conn: sqlite3.Connection, path: Path) -> None:
    """Initialise a new store or upgrade an older one to :data:`FORMAT_VERSION`,
    in one write transaction; a current store is left as it is."""
    if version_of(conn, path) == FORMAT_VERSION:
        return
    # journal_mode cannot change inside a transaction; a new or version-1 file
    # of ours is the only kind that gets here, so switching it is safe.
    conn.execute("PRAGMA journal_mode = WAL")
    with _sqlite.immediate(conn):
        version = version_of(conn, path)  # again, now that no one else can write
        for step in _STEPS[version:]:
            step(conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION}")


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1_SCHEMA:
        conn.execute(statement)


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Add checksums, and an empty row for each covered chunk window without
    bars (``_chunks``: every covered window has a row). A chunk or coverage
    row that fails validation gets no checksum (``NULL``): it is reported by
    ``verify`` and dropped by ``repair``, never blessed."""
    conn.execute("ALTER TABLE chunks ADD COLUMN crc INTEGER")
    conn.execute("ALTER TABLE coverage ADD COLUMN crc INTEGER")
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM chunks")]
    for rowid in rowids:  # one blob in memory at a time
        node, interval_s, cs, nrows, blob = conn.execute(
            "SELECT node_id, interval_s, chunk_start, nrows, data FROM chunks WHERE rowid = ?",
            (rowid,),
        ).fetchone()
        bad = chunk_problem(node, interval_s, cs, nrows, None, blob, check_crc=False)
        crc = None if bad else chunk_crc(series_seed(node, interval_s), cs, nrows, blob)
        conn.execute("UPDATE chunks SET crc = ? WHERE rowid = ?", (crc, rowid))
    rows = conn.execute(
        "SELECT node_id, interval_s, interval, range_start, range_end FROM coverage"
    ).fetchall()
    covered: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for node, interval_s, interval, start, end in rows:
        ints = all(isinstance(v, int) for v in (interval_s, start, end))
        ok = (
            ints and interval_s > 0 and start < end and not (start % interval_s or end % interval_s)
        )
        crc = coverage_crc(node, interval_s, interval, start, end) if ok else None
        conn.execute(
            "UPDATE coverage SET crc = ? WHERE node_id = ? AND interval_s = ? AND range_start = ?",
            (crc, node, interval_s, start),
        )
        if ok:
            covered.setdefault((node, interval_s), []).append((start, end))
    for (node, interval_s), pairs in covered.items():
        try:
            iv = parse_interval(f"{interval_s}s")
        except InvalidRequestError:
            continue  # a bad row of a version-1 file: verify reports it
        have = {r[0] for r in conn.execute(_CHUNK_STARTS, (node, interval_s))}
        for cs in covered_chunks(iv, RangeSet(pairs)):
            if cs not in have:
                put_chunk(conn, node, iv, cs, _NO_ROWS, covered=True)


# _STEPS[v] takes a file from version v to v + 1.
_STEPS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create_v1, _v1_to_v2)
assert len(_STEPS) == FORMAT_VERSION
