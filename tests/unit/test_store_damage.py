"""Damaged store files are detected, never served: bytes overwritten in the real
SQLite file, rows changed behind the store's back, rows and coverage that
vanished; ``verify`` lists the damage and ``repair`` drops it."""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.errors import StoreCorruptedError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _arrow
from seamless_sdk.stores.local import DamagedChunk, LocalStore

DAY = 86_400
D0 = 19_723 * DAY  # 2024-01-01
M1, H1 = parse_interval("1m"), parse_interval("1h")
NODE, OTHER = "demo:BTCUSDT", "demo:ETH"
MARK = 4242.4242  # a value stored exactly once, to find on disk


def bars(start: int, end: int, step: int = 60) -> pd.DataFrame:
    ts = np.arange(start, end, step, dtype=np.int64)
    rng = np.random.default_rng(start)
    price = 100 + rng.standard_normal(len(ts)).cumsum()
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns"),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price + 0.5,
            "volume": rng.random(len(ts)),
            "flags": np.zeros(len(ts), np.int32),
        }
    )


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    minute = bars(D0, D0 + 3 * DAY)
    minute.loc[1440 + 100, "volume"] = MARK  # day 2, bar 100
    return minute, bars(D0, D0 + 40 * DAY, step=3600)


def _build(path: Path) -> None:
    minute, hourly = _frames()
    with LocalStore(path) as store:
        store.write(NODE, M1, D0, D0 + 3 * DAY, minute)
        store.write(OTHER, H1, D0, D0 + 40 * DAY, hourly)
    # Closing the last connection merges the WAL into the file: all bytes are there.
    assert not path.with_name(path.name + "-wal").exists()


@cache
def pristine() -> bytes:
    """The bytes of a freshly written, closed store (built once)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bars.sqlite"
        _build(path)
        return path.read_bytes()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "bars.sqlite"
    p.write_bytes(pristine())
    return p


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


def raw(path: Path, sql: str, params: tuple = ()) -> None:
    """Change the file behind the store's back (no checksum is fixed)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def the_offset(path: Path, needle: bytes) -> int:
    data = path.read_bytes()
    assert data.count(needle) == 1
    return data.index(needle)


def test_an_overwritten_float_is_detected_named_and_repaired(path: Path) -> None:
    minute, hourly = _frames()
    overwrite(path, the_offset(path, struct.pack("<d", MARK)), struct.pack("<d", 12345.0))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError, match="checksum mismatch") as info:
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        err = info.value
        assert (err.node_id, err.interval, err.chunk_start) == (NODE, "1m", D0 + DAY)
        assert isinstance(err, StoreError)
        assert NODE in str(err) and str(D0 + DAY) in str(err)
        # The sound chunks still read, exactly.
        pd.testing.assert_frame_equal(store.read(NODE, M1, D0, D0 + DAY), minute.iloc[:1440])
        pd.testing.assert_frame_equal(store.read(OTHER, H1, D0, D0 + 40 * DAY), hourly)

        damaged = [DamagedChunk(NODE, "1m", D0 + DAY, "checksum mismatch")]
        assert store.verify() == damaged
        assert store.repair() == damaged
        assert store.verify() == []
        # The damaged day is gone with its coverage, so the next fill fetches it.
        assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + DAY), (D0 + 2 * DAY, D0 + 3 * DAY)])
        got = store.read(NODE, M1, D0, D0 + 3 * DAY)
        expected = pd.concat([minute.iloc[:1440], minute.iloc[2880:]], ignore_index=True)
        pd.testing.assert_frame_equal(got, expected)
        assert store.coverage(OTHER, H1) == RangeSet([(D0, D0 + 40 * DAY)])
        # And the window can be written again.
        store.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, minute.iloc[1440:2880].reset_index(drop=True))
        pd.testing.assert_frame_equal(store.read(NODE, M1, D0, D0 + 3 * DAY), minute)


def test_an_overwritten_ts_never_yields_an_unsorted_frame(path: Path) -> None:
    # The bar at D0 + DAY + 60: make its ts lie before the read's start.
    needle = struct.pack("<q", (D0 + DAY + 60) * 10**9)
    overwrite(path, the_offset(path, needle), struct.pack("<q", (D0 - 600) * 10**9))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError) as info:
            store.read(NODE, M1, D0 + DAY, D0 + 2 * DAY)
        assert info.value.chunk_start == D0 + DAY
        assert [d.chunk_start for d in store.verify()] == [D0 + DAY]


def test_a_blob_replaced_without_its_checksum_is_refused(path: Path) -> None:
    """A well-formed chunk written by someone else (the right Arrow schema and
    row count, other values) is caught by the checksum."""
    minute, _ = _frames()
    forged = minute.iloc[1440:2880].assign(volume=12345.0)
    cols = _arrow.columns_from_frame(forged.reset_index(drop=True), 60, D0 + DAY, D0 + 2 * DAY)
    blob = _arrow.encode(cols)
    raw(path, "UPDATE chunks SET data = ? WHERE chunk_start = ?", (blob, D0 + DAY))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError, match="checksum mismatch"):
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        with pytest.raises(StoreCorruptedError):
            store.read(NODE, M1, D0 + DAY + 3600, D0 + DAY + 7200)


def test_a_row_moved_to_another_key_is_refused(path: Path) -> None:
    # The checksum covers the key: day 1's bytes under day 2's key do not pass.
    raw(path, "DELETE FROM chunks WHERE chunk_start = ?", (D0 + DAY,))
    raw(path, "UPDATE chunks SET chunk_start = ? WHERE chunk_start = ?", (D0 + DAY, D0))
    with LocalStore(path) as store, pytest.raises(StoreCorruptedError) as info:
        store.read(NODE, M1, D0, D0 + 3 * DAY)
    assert info.value.chunk_start in (D0, D0 + DAY)


def test_a_vanished_row_is_missing_not_a_gap(path: Path) -> None:
    """A chunk row that disappears (a damaged index page can make SQLite skip
    rows without an error) must not be served as a quiet day."""
    raw(path, "DELETE FROM chunks WHERE chunk_start = ?", (D0 + DAY,))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError, match="missing") as info:
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        assert info.value.chunk_start == D0 + DAY
        assert [(d.chunk_start, d.reason.split(":")[0]) for d in store.verify()] == [
            (D0 + DAY, "missing")
        ]
        store.repair()
        assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + DAY), (D0 + 2 * DAY, D0 + 3 * DAY)])
        assert len(store.read(NODE, M1, D0, D0 + 3 * DAY)) == 2 * 1440
        assert store.verify() == []


@pytest.mark.parametrize("table", ["chunks", "coverage"])
def test_a_node_id_stored_as_a_blob_is_damage(path: Path, table: str) -> None:
    # One flipped bit of a record header makes a TEXT node id a BLOB of the
    # same bytes: it decoded and checksummed fine, so verify() said the store
    # was sound while no read's `node_id = ?` matched the row any more.
    where = " AND chunk_start = ?" if table == "chunks" else ""
    params = (NODE, D0 + DAY) if table == "chunks" else (NODE,)
    raw(
        path, f"UPDATE {table} SET node_id = CAST(node_id AS BLOB) WHERE node_id = ?{where}", params
    )
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError):
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        found = store.verify()
        assert found and {d.node_id for d in found} == {NODE}
        assert store.repair() == found
        _check_repaired(store)


def test_one_repair_drops_the_window_of_a_row_whose_interval_broke(path: Path) -> None:
    # interval_s 60 -> 61: the row is another series' damage, and the 1m window
    # it leaves without a row must be found (and uncovered) in the same pass.
    raw(path, "UPDATE chunks SET interval_s = 61 WHERE chunk_start = ?", (D0 + DAY,))
    with LocalStore(path) as store:
        reasons = {(d.interval, d.reason.split(":")[0]) for d in store.verify()}
        assert ("1m", "missing") in reasons
        store.repair()
        assert store.verify() == []
        assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + DAY), (D0 + 2 * DAY, D0 + 3 * DAY)])
        _check_repaired(store)


def test_lost_coverage_makes_bars_invisible_not_unvouched(path: Path) -> None:
    raw(path, "DELETE FROM coverage WHERE node_id = ?", (NODE,))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError, match="uncovered"):
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        assert {d.reason.split(":")[0] for d in store.verify()} == {"uncovered"}
        assert len(store.repair()) == 3
        assert store.read(NODE, M1, D0, D0 + 3 * DAY).empty
        assert store.verify() == []


def test_a_damaged_coverage_row_is_detected_and_dropped_with_its_bars(path: Path) -> None:
    _, hourly = _frames()
    raw(path, "UPDATE coverage SET range_end = range_end + 86400 WHERE node_id = ?", (NODE,))
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError, match="coverage row") as info:
            store.coverage(NODE, M1)
        assert (info.value.node_id, info.value.interval, info.value.chunk_start) == (
            NODE,
            "1m",
            None,
        )
        with pytest.raises(StoreCorruptedError):
            store.read(NODE, M1, D0, D0 + DAY)
        report, *uncovered = store.verify()
        assert (report.node_id, report.interval, report.chunk_start) == (NODE, "1m", D0)
        assert "coverage row" in report.reason
        # With its coverage row unusable, the series' three chunks are unvouched.
        assert [(d.chunk_start, d.reason.split(":")[0]) for d in uncovered] == [
            (D0 + k * DAY, "uncovered") for k in range(3)
        ]
        store.repair()
        # No coverage vouches for the bars any more, so none are left.
        assert store.coverage(NODE, M1) == RangeSet()
        assert store.read(NODE, M1, D0, D0 + 3 * DAY).empty
        pd.testing.assert_frame_equal(store.read(OTHER, H1, D0, D0 + 40 * DAY), hourly)
        assert store.verify() == []


def test_writes_never_bless_a_damaged_chunk(path: Path) -> None:
    minute, _ = _frames()
    overwrite(path, the_offset(path, struct.pack("<d", MARK)), struct.pack("<d", 12345.0))
    with LocalStore(path) as store:
        before = path.read_bytes()
        patch = minute.iloc[1440 : 1440 + 60].reset_index(drop=True)
        with pytest.raises(StoreCorruptedError):  # a partial write would keep damaged bars
            store.write(NODE, M1, D0 + DAY, D0 + DAY + 3600, patch)
        with pytest.raises(StoreCorruptedError):  # so would a partial removal
            store.remove_coverage(NODE, M1, RangeSet([(D0 + DAY, D0 + DAY + 3600)]))
        store.close()
        assert path.read_bytes() == before
    with LocalStore(path) as store:
        # Replacing the whole chunk keeps nothing of it: that heals it.
        store.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, minute.iloc[1440:2880].reset_index(drop=True))
        pd.testing.assert_frame_equal(store.read(NODE, M1, D0, D0 + 3 * DAY), minute)
        assert store.verify() == []


def test_a_damaged_index_is_rebuilt_by_repair(path: Path) -> None:
    conn = sqlite3.connect(path)
    (root,) = conn.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_chunks_1'"
    ).fetchone()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = path.read_bytes()
    page = slice((root - 1) * page_size, root * page_size)
    key = (D0 + DAY).to_bytes(4, "big", signed=True)  # an index entry's chunk_start
    at = data.index(key, page.start, page.stop)
    overwrite(path, at, (D0 + DAY + 12345).to_bytes(4, "big", signed=True))
    minute, _ = _frames()
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError):
            store.read(NODE, M1, D0, D0 + 3 * DAY)
        with pytest.raises(StoreCorruptedError, match="index is damaged"):
            store.verify()
        assert store.repair() == []  # nothing was lost: the table had every row
        pd.testing.assert_frame_equal(store.read(NODE, M1, D0, D0 + 3 * DAY), minute)
        assert store.verify() == []


def test_a_broken_table_btree_is_reported_not_repaired(path: Path) -> None:
    conn = sqlite3.connect(path)
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'coverage'").fetchone()
    conn.close()
    overwrite(path, (root - 1) * 4096, b"\x00" * 12)  # the page header: not a B-tree page
    with LocalStore(path) as store:
        with pytest.raises(StoreCorruptedError) as info:
            store.coverage(NODE, M1)
        assert info.value.node_id == NODE
        with pytest.raises(StoreCorruptedError, match="integrity check"):
            store.verify()
        with pytest.raises(StoreCorruptedError, match="cannot fix") as info:
            store.repair()
        # Not also the usual advice to run the repair that just refused.
        assert "store repair` drops" not in str(info.value)


def test_every_call_names_a_malformed_file_as_damage(path: Path) -> None:
    # series() alone said plain StoreError, which callers that key on
    # StoreCorruptedError (repair, doctor, "delete and refill") missed.
    size = path.stat().st_size
    overwrite(path, 4096, b"\x00" * (size - 4096))  # the header page kept
    with LocalStore(path) as store:
        for call in (
            store.series,
            lambda: store.coverage(NODE, M1),
            lambda: store.coverage_many([NODE], M1),
            lambda: store.read(NODE, M1, D0, D0 + DAY),
        ):
            with pytest.raises(StoreCorruptedError, match="malformed"):
                call()


# -- any overwrite, anywhere ----------------------------------------------------
def _same_or_typed_error(call: object, expected: object) -> bool:
    """Run ``call``: True if it returns ``expected``, False if it raises a
    StoreError; anything else (a wrong answer, another exception) fails."""
    try:
        got = call()  # type: ignore[operator]
    except StoreError:
        return False
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected)
    else:
        assert got == expected
    return True


def _check_repaired(store: LocalStore) -> None:
    """After a repair: reads never fail, every bar returned is the original
    one, and every original bar that coverage vouches for is returned."""
    for node, iv, frame, lo, hi in (
        (NODE, M1, _frames()[0], D0, D0 + 3 * DAY),
        (OTHER, H1, _frames()[1], D0, D0 + 40 * DAY),
    ):
        cover = store.coverage(node, iv)
        assert cover.subtract(RangeSet([(lo, hi)])) == RangeSet()
        got = store.read(node, iv, lo, hi)
        secs = frame["ts"].to_numpy(dtype="int64") // 10**9
        keep = np.zeros(len(frame), bool)
        for s, e in cover:
            keep |= (secs >= s) & (secs < e)
        pd.testing.assert_frame_equal(got, frame[keep].reset_index(drop=True))
    assert store.verify() == []


OFFSETS = st.one_of(
    st.integers(0, len(pristine()) - 1),  # anywhere: mostly chunk bytes
    st.integers(0, 4 * 4096 - 1),  # the header, schema and B-tree root pages
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(offset=OFFSETS, data=st.binary(min_size=1, max_size=16))
def test_random_overwrites_never_return_wrong_data(
    tmp_path: Path, offset: int, data: bytes
) -> None:
    minute, hourly = _frames()
    path = tmp_path / f"d{offset}-{data.hex()}.sqlite"
    path.write_bytes(pristine())
    overwrite(path, offset, data)
    try:
        store = LocalStore(path)
    except StoreError:
        return  # refused as damaged or foreign: typed, and nothing was read
    with store:
        _same_or_typed_error(lambda: store.read(NODE, M1, D0, D0 + 3 * DAY), minute)
        _same_or_typed_error(lambda: store.read(OTHER, H1, D0, D0 + 40 * DAY), hourly)
        _same_or_typed_error(
            lambda: store.read(NODE, M1, D0 + DAY, D0 + DAY + 3600),
            minute.iloc[1440:1500].reset_index(drop=True),
        )
        try:
            cover = store.coverage(NODE, M1)
        except StoreError:
            cover = None
        if cover is not None:
            # Coverage may only shrink (a damaged page can hide rows), never grow.
            assert cover.subtract(RangeSet([(D0, D0 + 3 * DAY)])) == RangeSet()
        try:
            store.repair()
        except StoreCorruptedError as exc:
            assert exc.reason  # the file's structure: reported, not repairable
            return
        _check_repaired(store)
