"""Which files LocalStore opens, and what it says when it cannot: foreign and
newer files are refused untouched, version-1 files are upgraded, path problems
are named, and read-only stores and media are readable."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.errors import (
    ForeignStoreError,
    InvalidRequestError,
    StoreCorruptedError,
    StoreError,
)
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _arrow
from seamless_sdk.stores._schema import (
    APPLICATION_ID,
    FORMAT_VERSION,
    TEMP_MIN_AGE_S,
    sweep_temporaries,
)
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
D0 = 19_723 * DAY
M1 = parse_interval("1m")
NODE = "demo:BTCUSDT"


def bars(start: int, end: int, step: int = 60) -> pd.DataFrame:
    ts = np.arange(start, end, step, dtype=np.int64)
    price = 100 + np.arange(len(ts)) * 0.01
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns"),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price + 0.5,
            "volume": np.ones(len(ts)),
            "flags": np.zeros(len(ts), np.int32),
        }
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def marks(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return (
            conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0],
        )
    finally:
        conn.close()


def sidecars(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name != path.name]


# -- files that are not ours ------------------------------------------------------
def _other_app(path: Path, app_id: int = 0, version: int = 0) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
        conn.execute(f"PRAGMA application_id = {app_id}")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(lambda p: _other_app(p), "another application's SQLite file", id="tables"),
        pytest.param(
            lambda p: _other_app(p, app_id=0x12345678), "application_id 0x12345678", id="app id"
        ),
        pytest.param(
            lambda p: _other_app(p, version=1), "another application's SQLite file", id="version 1"
        ),
        pytest.param(
            lambda p: p.write_text("timestamp,price\n1,2\n" * 20), "not a SQLite database", id="csv"
        ),
        pytest.param(lambda p: p.write_bytes(b"\x00" * 4096), "not a SQLite database", id="zeros"),
        pytest.param(lambda p: p.write_bytes(b"SQLite format 3"), "not a SQLite", id="header only"),
    ],
)
def test_foreign_files_are_refused_untouched(tmp_path: Path, make, says: str) -> None:
    path = tmp_path / "other.db"
    make(path)
    before = digest(path)
    with pytest.raises(ForeignStoreError, match=says) as info:
        LocalStore(path)
    assert info.value.path == str(path)
    assert "left untouched" in str(info.value)
    assert digest(path) == before
    assert sidecars(path) == []  # no -wal, -shm or lock directory left behind


def test_a_newer_store_is_refused_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    with LocalStore(path) as store:
        store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"PRAGMA user_version = {FORMAT_VERSION + 1}")
    conn.close()
    before = digest(path)
    with pytest.raises(ForeignStoreError, match="newer Seamless"):
        LocalStore(path)
    assert digest(path) == before


def test_new_and_empty_files_become_marked_stores(tmp_path: Path) -> None:
    fresh, empty = tmp_path / "fresh.sqlite", tmp_path / "empty.sqlite"
    empty.touch()
    for path in (fresh, empty):
        LocalStore(path).close()
        assert marks(path) == (APPLICATION_ID, FORMAT_VERSION)
        # And it opens again as ours.
        with LocalStore(path) as store:
            assert store.series() == []


def _killed_while_creating(path: Path) -> list[Path]:
    """Kill -9 a process building a new store at ``path`` just before it links
    the store into place; the temporary files it leaves."""
    script = textwrap.dedent(
        """
        import os, sys, time
        from pathlib import Path
        from seamless_sdk.stores import _schema

        def link(src, dst):
            print("linking", flush=True)
            time.sleep(60)

        os.link = link
        _schema.create(Path(sys.argv[1]))
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline() == b"linking\n"
        finally:
            proc.kill()
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def test_a_creator_killed_mid_way_leaves_files_the_next_writer_removes(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    left = _killed_while_creating(path)
    assert left and not path.exists()
    # Young files are kept (their creator may only look dead from here) ...
    LocalStore(path).close()
    assert all(p.exists() for p in left)
    # ... a read-only open removes nothing ...
    old = time.time() - 2 * TEMP_MIN_AGE_S
    for p in left:
        os.utime(p, (old, old))
    LocalStore(path, read_only=True).close()
    assert all(p.exists() for p in left)
    # ... and an old one of a dead process goes with the next writable open.
    with LocalStore(path) as store:
        assert store.series() == []
    assert not any(p.exists() for p in left)
    assert marks(path) == (APPLICATION_ID, FORMAT_VERSION)


def test_the_sweep_keeps_files_of_live_processes_and_other_names(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    old = time.time() - 2 * TEMP_MIN_AGE_S
    live = tmp_path / f".s.sqlite.{os.getpid()}.0123abcd.new"
    other = [tmp_path / n for n in (".s.sqlite.1.xyz.new", ".t.sqlite.1.0123abcd.new", "notes")]
    for p in (live, *other):
        p.write_bytes(b"x")
        os.utime(p, (old, old))
    assert sweep_temporaries(path) == []
    assert all(p.exists() for p in (live, *other))


def test_a_store_with_a_damaged_schema_is_corrupt_not_foreign(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    LocalStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE extra (x)")
    conn.close()
    with pytest.raises(StoreCorruptedError, match="schema is damaged"):
        LocalStore(path)


# -- version 1: files written before they were marked --------------------------------
V1_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS chunks (
        node_id TEXT NOT NULL,
        interval_s INTEGER NOT NULL,
        chunk_start INTEGER NOT NULL,
        nrows INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (node_id, interval_s, chunk_start)
    )""",
    """CREATE TABLE IF NOT EXISTS coverage (
        node_id TEXT NOT NULL,
        interval_s INTEGER NOT NULL,
        interval TEXT NOT NULL,
        range_start INTEGER NOT NULL,
        range_end INTEGER NOT NULL,
        PRIMARY KEY (node_id, interval_s, range_start)
    ) WITHOUT ROWID""",
)


def _v1_file(
    path: Path, chunks: list[tuple[int, bytes, int]], cover: list[tuple[int, int]]
) -> None:
    """A store as the version-1 code wrote it: no application_id, user_version
    1, no checksums, and no rows for covered windows without bars."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    with conn:
        for statement in V1_SCHEMA:
            conn.execute(statement)
        for cs, blob, nrows in chunks:
            conn.execute("INSERT INTO chunks VALUES (?, ?, ?, ?, ?)", (NODE, 60, cs, nrows, blob))
        for s, e in cover:
            conn.execute("INSERT INTO coverage VALUES (?, ?, ?, ?, ?)", (NODE, 60, "1m", s, e))
        conn.execute("PRAGMA user_version = 1")
    conn.close()


def _blob(frame: pd.DataFrame, start: int, end: int) -> bytes:
    return _arrow.encode(_arrow.columns_from_frame(frame, 60, start, end))


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    day1, day4 = bars(D0, D0 + DAY), bars(D0 + 3 * DAY, D0 + 4 * DAY)
    _v1_file(
        path,
        [
            (D0, _blob(day1, D0, D0 + DAY), 1440),
            (D0 + 3 * DAY, _blob(day4, D0, D0 + 4 * DAY), 1440),
        ],
        [(D0, D0 + 4 * DAY)],  # days 2 and 3 covered without bars
    )
    with LocalStore(path) as store:
        assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + 4 * DAY)])
        got = store.read(NODE, M1, D0, D0 + 4 * DAY)
        pd.testing.assert_frame_equal(got, pd.concat([day1, day4], ignore_index=True))
        assert store.verify() == []
        store.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, bars(D0 + DAY, D0 + 2 * DAY))
        assert len(store.read(NODE, M1, D0, D0 + 4 * DAY)) == 3 * 1440
    assert marks(path) == (APPLICATION_ID, FORMAT_VERSION)
    with LocalStore(path) as store:  # and it is a current store from now on
        assert len(store.read(NODE, M1, D0, D0 + 4 * DAY)) == 3 * 1440


def test_a_version_1_store_opened_read_only_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    _v1_file(path, [(D0, _blob(bars(D0, D0 + DAY), D0, D0 + DAY), 1440)], [(D0, D0 + DAY)])
    before = digest(path)
    with pytest.raises(StoreError, match=r"format version 1 .* needs write access"):
        LocalStore(path, read_only=True)
    assert digest(path) == before and marks(path) == (0, 1)


def test_an_upgrade_never_blesses_a_damaged_chunk(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    day1 = bars(D0, D0 + DAY)
    blob = bytearray(_blob(day1, D0, D0 + DAY))
    good = bytes(blob)
    # Swap two ts: a chunk the old code could have served unsorted.
    ts = np.ndarray((1440,), np.int64, blob, _arrow.layout_of(good).offsets[0])
    ts[[3, 4]] = ts[[4, 3]]
    _v1_file(path, [(D0, bytes(blob), 1440)], [(D0, D0 + DAY)])
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError) as info:
            store.read(NODE, M1, D0, D0 + DAY)
        assert info.value.chunk_start == D0
        [damaged] = store.verify()
        assert "no checksum" in damaged.reason
        store.repair()
        assert store.coverage(NODE, M1) == RangeSet()


# -- paths --------------------------------------------------------------------------
def test_a_directory_is_named(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match="is a directory, not a file"):
        LocalStore(tmp_path / "dir.sqlite")


def test_a_path_under_a_regular_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match=r"notes\.txt is a file, not a directory"):
        LocalStore(tmp_path / "notes.txt" / "sub" / "bars.sqlite")
    assert (tmp_path / "notes.txt").read_text() == "hello"


def test_missing_parents_are_created_as_before(tmp_path: Path, monkeypatch) -> None:
    # A fresh checkout has no var/: the default store path must just work.
    monkeypatch.chdir(tmp_path)
    with LocalStore("var/seamless.sqlite") as store:
        store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
    assert (tmp_path / "var" / "seamless.sqlite").is_file()


def test_read_only_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="there is no such file"):
        LocalStore(tmp_path / "none.sqlite", read_only=True)
    assert not (tmp_path / "none.sqlite").exists()
    (tmp_path / "empty.sqlite").touch()
    with pytest.raises(StoreError, match="empty"):
        LocalStore(tmp_path / "empty.sqlite", read_only=True)


# -- read-only stores --------------------------------------------------------------
def test_a_read_only_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    writer = LocalStore(path)
    writer.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
    with LocalStore(path, read_only=True) as reader:
        assert reader.read_only and not writer.read_only
        assert len(reader.read(NODE, M1, D0, D0 + DAY)) == 1440
        # It follows the writer's commits (not a frozen snapshot).
        writer.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, bars(D0 + DAY, D0 + 2 * DAY))
        assert len(reader.read(NODE, M1, D0, D0 + 2 * DAY)) == 2880
        assert reader.verify() == []
        for refused in (
            lambda: reader.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY)),
            lambda: reader.remove_coverage(NODE, M1, RangeSet([(D0, D0 + DAY)])),
            lambda: reader.repair(),
            lambda: reader.window_lock(NODE, M1, D0).__enter__(),
        ):
            with pytest.raises(StoreError, match=r"read-only .*read_only=True"):
                refused()
    writer.close()
    with LocalStore(path) as again:
        assert len(again.read(NODE, M1, D0, D0 + 2 * DAY)) == 2880


_RO_PROBE = textwrap.dedent(
    """
    import json, sys
    from seamless_sdk.errors import StoreError
    from seamless_sdk.stores.local import LocalStore
    folder = sys.argv[1]
    out = {}
    store = LocalStore(folder + "/bars.sqlite")
    out["read_only"] = store.read_only
    out["rows"] = len(store.read("demo:BTCUSDT", "1m", 19723 * 86400, 19724 * 86400))
    out["verify"] = len(store.verify())
    for name, call in (
        ("write", lambda: store.write(
            "demo:BTCUSDT", "1m", 19723 * 86400, 19723 * 86400,
            store.read("demo:BTCUSDT", "1m", 0, 0))),
        ("new", lambda: LocalStore(folder + "/new.sqlite")),
        ("new_dir", lambda: LocalStore(folder + "/sub/new.sqlite")),
    ):
        try:
            call()
            out[name] = "no error"
        except StoreError as exc:
            out[name] = str(exc)
    print(json.dumps(out))
    """
)


def test_a_store_on_read_only_media_opens_for_reading(tmp_path: Path) -> None:
    """A real read-only mount (a private mount namespace; needs root)."""
    folder = tmp_path / "media"
    folder.mkdir()
    with LocalStore(folder / "bars.sqlite") as store:
        store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
    assert sorted(p.name for p in folder.iterdir()) == ["bars.sqlite"]  # no -wal, no -shm
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to make a read-only mount")
    script = tmp_path / "probe.py"
    script.write_text(_RO_PROBE)
    shell = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"{sys.executable} {script} {folder}"
    )
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    if done.returncode != 0 and "mount" in done.stderr and not done.stdout:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["read_only"] is True
    assert out["rows"] == 1440
    assert out["verify"] == 0
    assert "read-only file system" in out["write"] and "nothing was written" in out["write"]
    assert "read-only file system" in out["new"]
    assert "cannot create the store's directory" in out["new_dir"]
    assert "read-only file system" in out["new_dir"]


def test_an_unwritable_store_is_read_only_and_says_why(tmp_path: Path) -> None:
    """A store another user owns: opened read-only by itself, and refused with
    the reason when SQLite cannot create its -shm file there, never with
    "unable to open database file". The probe is a forked child that drops to
    ``nobody`` (needs root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to probe as another user")
    folder = Path(tempfile.mkdtemp(prefix="seamless-owned-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        with LocalStore(folder / "bars.sqlite") as store:
            store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through the pipe, never return into pytest
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    LocalStore(folder / "bars.sqlite").close()
                    message = "opened"
                except StoreError as exc:
                    message = str(exc)
                os.write(write_end, message.encode())
            finally:
                os._exit(0)
        os.close(write_end)
        os.waitpid(pid, 0)
        with os.fdopen(read_end) as pipe:
            message = pipe.read()
    finally:
        shutil.rmtree(folder)
    assert "unable to open database file" not in message
    assert "-shm" in message and "the file is not writable" in message, message


@pytest.mark.parametrize("bad", ["", " ", "a\x00b", ".", "x/..", 5, b"x"])
def test_a_path_that_names_no_file_is_refused(bad: object) -> None:
    # "" and a NUL byte were pathlib's ValueError, not a Seamless error.
    with pytest.raises(InvalidRequestError, match=r"^path: "):
        LocalStore(bad)  # type: ignore[arg-type]
