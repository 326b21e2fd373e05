"""LocalStore in one process: round trips, slicing, replaces, coverage, bad
input, window locks and closing."""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.bars import STORED_COLUMNS
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _arrow
from seamless_sdk.stores.base import BarStore
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
D0 = 19_723 * DAY  # 2024-01-01, a Monday
M1 = parse_interval("1m")
NODE = "demo:BTCUSDT"


def bars(start: int, end: int, *, step: int = 60, volume: float | None = None) -> pd.DataFrame:
    """A stored bar frame with one bar every ``step`` seconds in ``[start, end)``,
    built the ordinary way (not by the store's code)."""
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
            "volume": rng.random(len(ts)) if volume is None else np.full(len(ts), volume),
            "flags": (ts % 7).astype(np.int32),
        }
    )


def dump(path: Path) -> tuple[list[tuple], list[tuple]]:
    """Every row of both tables, read with a separate plain connection."""
    with sqlite3.connect(path) as conn:
        chunks = conn.execute("SELECT * FROM chunks ORDER BY 1, 2, 3").fetchall()
        cover = conn.execute("SELECT * FROM coverage ORDER BY 1, 2, 4").fetchall()
    conn.close()
    return chunks, cover


@pytest.fixture
def store(tmp_path: Path):
    s = LocalStore(tmp_path / "nested" / "bars.sqlite")
    yield s
    s.close()


@pytest.fixture
def month(store: LocalStore) -> pd.DataFrame:
    """Ten days of 1m bars written as one write; returns the frame written."""
    frame = bars(D0, D0 + 10 * DAY)
    store.write(NODE, M1, D0, D0 + 10 * DAY, frame)
    return frame


def test_satisfies_the_protocol_and_creates_parent_dirs(store: LocalStore) -> None:
    assert isinstance(store, BarStore)
    assert store.path.exists()
    assert store.path.parent.name == "nested"


def test_round_trip_keeps_values_and_dtypes(store: LocalStore, month: pd.DataFrame) -> None:
    got = store.read(NODE, M1, D0, D0 + 10 * DAY)
    pd.testing.assert_frame_equal(got, month)
    assert list(got.columns) == list(STORED_COLUMNS)
    assert str(got["ts"].dtype) == "datetime64[ns, UTC]"
    assert got["flags"].dtype == np.int32
    assert isinstance(got.index, pd.RangeIndex)
    assert got["ts"].is_monotonic_increasing and got["ts"].is_unique


def test_read_accepts_interval_names_and_numpy_ints(store: LocalStore, month: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(store.read(NODE, "1m", D0, D0 + DAY), month.iloc[:1440])
    got = store.read(NODE, M1, np.int64(D0), np.int64(D0 + DAY))
    pd.testing.assert_frame_equal(got, month.iloc[:1440])
    store.write(NODE, M1, np.int64(D0), np.int64(D0 + DAY), month.iloc[:1440])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param(D0, D0 + DAY, id="one whole chunk"),
        pytest.param(D0 + DAY - 120, D0 + DAY + 120, id="across a chunk boundary"),
        pytest.param(D0 + 3 * DAY + 60, D0 + 7 * DAY - 60, id="ragged both ends, many chunks"),
        pytest.param(D0 + DAY, D0 + DAY + 60, id="one bar: the one at start"),
        pytest.param(D0 - 5 * DAY, D0 + 60, id="starts before any data"),
        pytest.param(D0 + 9 * DAY, D0 + 20 * DAY, id="ends after the data"),
        pytest.param(D0 + 2 * DAY + 30, D0 + 2 * DAY + 90, id="unaligned bounds"),
        pytest.param(D0 + 20 * DAY, D0 + 21 * DAY, id="no data at all"),
        pytest.param(D0 + DAY, D0 + DAY, id="empty range"),
    ],
)
def test_read_is_half_open(store: LocalStore, month: pd.DataFrame, start: int, end: int) -> None:
    """Every bar with start <= ts < end, none other, across chunk boundaries."""
    ts = month["ts"]
    lo = pd.Timestamp(start, unit="s", tz="UTC")
    hi = pd.Timestamp(end, unit="s", tz="UTC")
    expected = month[(ts >= lo) & (ts < hi)].reset_index(drop=True)
    got = store.read(NODE, M1, start, end)
    pd.testing.assert_frame_equal(got, expected)


def test_empty_read_has_the_stored_dtypes(store: LocalStore) -> None:
    got = store.read(NODE, M1, D0, D0 + DAY)
    assert got.empty
    pd.testing.assert_frame_equal(got, bars(D0, D0))


def test_frames_read_are_independent_and_editable(store: LocalStore, month: pd.DataFrame) -> None:
    first = store.read(NODE, M1, D0, D0 + DAY)
    first.loc[0, "open"] = -1.0
    first.loc[0, "ts"] = pd.Timestamp(0, tz="UTC")
    first["extra"] = 1
    again = store.read(NODE, M1, D0, D0 + DAY)
    pd.testing.assert_frame_equal(again, month.iloc[:1440])
    assert first.loc[0, "close"] == month.loc[0, "close"]  # other columns untouched


def test_partial_chunk_replace_keeps_the_rest_of_the_chunk(
    store: LocalStore, month: pd.DataFrame
) -> None:
    # Replace six hours in the middle of day 2 with sparser bars of another volume.
    s, e = D0 + 2 * DAY + 6 * 3600, D0 + 2 * DAY + 12 * 3600
    patch = bars(s, e, step=300, volume=9.0)
    store.write(NODE, M1, s, e, patch)
    got = store.read(NODE, M1, D0 + 2 * DAY, D0 + 3 * DAY)
    day = month[(month["ts"] >= pd.Timestamp(D0 + 2 * DAY, unit="s", tz="UTC"))].iloc[:1440]
    ts = day["ts"]
    before = day[ts < pd.Timestamp(s, unit="s", tz="UTC")]
    after = day[ts >= pd.Timestamp(e, unit="s", tz="UTC")]
    expected = pd.concat([before, patch, after], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    # Neighbouring chunks are untouched.
    pd.testing.assert_frame_equal(store.read(NODE, M1, D0, D0 + 2 * DAY), month.iloc[: 2 * 1440])


def test_replace_with_no_rows_deletes_them_but_stays_covered(
    store: LocalStore, month: pd.DataFrame
) -> None:
    store.write(NODE, M1, D0 + DAY, D0 + 3 * DAY, bars(D0, D0))
    assert store.read(NODE, M1, D0 + DAY, D0 + 3 * DAY).empty
    assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + 10 * DAY)])
    chunks, _ = dump(store.path)
    # Every covered window keeps a row, an empty one if it has no bars, so a
    # row that vanished from the file can be told from a quiet day.
    assert [c[2] for c in chunks] == [D0 + d * DAY for d in range(10)]
    assert [c[3] for c in chunks] == [0 if d in (1, 2) else 1440 for d in range(10)]
    # Without coverage, no row at all.
    store.remove_coverage(NODE, M1, RangeSet([(D0 + DAY, D0 + 2 * DAY)]))
    assert [c[2] for c in dump(store.path)[0]] == [D0 + d * DAY for d in range(10) if d != 1]


def test_rewrite_is_idempotent_to_the_byte(store: LocalStore, month: pd.DataFrame) -> None:
    s, e = D0 + DAY + 3600, D0 + 4 * DAY - 3600
    patch = bars(s, e, volume=3.0)
    store.write(NODE, M1, s, e, patch)
    once = dump(store.path)
    store.write(NODE, M1, s, e, patch)
    store.write(NODE, M1, s, e, patch.copy())
    assert dump(store.path) == once
    # A fresh store from the same frames writes the same bytes too.
    other = LocalStore(store.path.with_name("other.sqlite"))
    try:
        other.write(NODE, M1, D0, D0 + 10 * DAY, month)
        other.write(NODE, M1, s, e, patch)
        assert dump(other.path) == once
    finally:
        other.close()


def test_blobs_are_plain_arrow_streams(store: LocalStore, month: pd.DataFrame) -> None:
    """Any Arrow reader can open a chunk: no custom framing."""
    chunks, _ = dump(store.path)
    table = pa.ipc.open_stream(chunks[0][4]).read_all()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert chunks[0][3] == table.num_rows == 1440
    pd.testing.assert_frame_equal(table.to_pandas(), month.iloc[:1440])


def test_coverage_union_and_remove(store: LocalStore) -> None:
    assert store.coverage(NODE, M1) == RangeSet()
    assert store.series() == []
    store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
    store.write(NODE, M1, D0 + 2 * DAY, D0 + 3 * DAY, bars(D0 + 2 * DAY, D0 + 3 * DAY))
    assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + DAY), (D0 + 2 * DAY, D0 + 3 * DAY)])
    # ``covered`` may be smaller than the window: only it is added.
    mid = bars(D0 + DAY, D0 + DAY + 3600)
    store.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, mid, covered=RangeSet([(D0 + DAY, D0 + 2 * DAY)]))
    assert store.coverage(NODE, M1) == RangeSet([(D0, D0 + 3 * DAY)])
    store.write("other", "1h", D0, D0 + DAY, bars(D0, D0 + DAY, step=3600))
    assert store.series() == [(NODE, "1m"), ("other", "1h")]

    store.remove_coverage(NODE, M1, RangeSet([(D0 + 12 * 3600, D0 + DAY + 1800)]))
    assert store.coverage(NODE, M1) == RangeSet(
        [(D0, D0 + 12 * 3600), (D0 + DAY + 1800, D0 + 3 * DAY)]
    )
    got = store.read(NODE, M1, D0, D0 + 3 * DAY)
    removed = (got["ts"] >= pd.Timestamp(D0 + 12 * 3600, unit="s", tz="UTC")) & (
        got["ts"] < pd.Timestamp(D0 + DAY + 1800, unit="s", tz="UTC")
    )
    assert not removed.any()
    assert len(got) == 720 + 30 + 1440

    store.remove_coverage(NODE, M1, RangeSet([(0, 2 * D0)]))
    assert store.coverage(NODE, M1) == RangeSet()
    assert store.read(NODE, M1, 0, 2 * D0).empty
    assert store.series() == [("other", "1h")]
    assert [c[0] for c in dump(store.path)[0]] == ["other"]


def test_other_intervals_use_hour_month_and_year_chunks(store: LocalStore) -> None:
    s1 = parse_interval("1s")
    seconds = bars(D0 + 1800, D0 + 3 * 3600, step=1)  # three hour chunks, the first partial
    store.write(NODE, s1, D0, D0 + 3 * 3600, seconds)
    assert len(dump(store.path)[0]) == 3
    pd.testing.assert_frame_equal(store.read(NODE, s1, D0, D0 + DAY), seconds)
    h1 = parse_interval("1h")
    frame = bars(D0, D0 + 70 * DAY, step=3600)  # January to mid-March: three month chunks
    store.write(NODE, h1, D0, D0 + 70 * DAY, frame)
    assert len(dump(store.path)[0]) == 6
    pd.testing.assert_frame_equal(store.read(NODE, h1, D0, D0 + 70 * DAY), frame)
    d1 = parse_interval("1d")
    daily = bars(D0 - 400 * DAY, D0 + 10 * DAY, step=DAY)
    store.write(NODE, d1, D0 - 400 * DAY, D0 + 10 * DAY, daily)
    pd.testing.assert_frame_equal(store.read(NODE, d1, 0, D0 + 10 * DAY), daily)


HOUR = 3600
# One operation: (kind, first hour, hours, step in minutes, version), inside 3 days.
OPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "write", "remove"]),
        st.integers(0, 71),
        st.integers(0, 30),
        st.sampled_from([1, 2, 5, 60]),
        st.integers(1, 1000),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_any_sequence_of_writes_and_removes_matches_a_model(ops: list[tuple]) -> None:
    """The store behaves like a dict of bars plus a RangeSet, whatever the mix of
    partial, multi-chunk and empty writes and removals."""
    model: dict[int, int] = {}  # ts -> version
    cover = RangeSet()
    with tempfile.TemporaryDirectory() as tmp, LocalStore(Path(tmp) / "b.sqlite") as store:
        for kind, first, hours, step_min, version in ops:
            s = D0 + first * HOUR
            e = min(D0 + 3 * DAY, s + hours * HOUR)
            for t in [t for t in model if s <= t < e]:
                del model[t]
            if kind == "write":
                step = step_min * 60
                frame = bars(s, e, step=step, volume=float(version))
                store.write(NODE, M1, s, e, frame)
                model.update(dict.fromkeys(range(s, e, step), version))
                cover = cover.union(RangeSet.span(s, e))
            else:
                store.remove_coverage(NODE, M1, RangeSet.span(s, e))
                cover = cover.subtract(RangeSet.span(s, e))
            got = store.read(NODE, M1, D0, D0 + 3 * DAY)
            expected_ts = sorted(model)
            assert got["ts"].to_numpy(dtype="int64").tolist() == [t * 10**9 for t in expected_ts]
            assert got["volume"].tolist() == [float(model[t]) for t in expected_ts]
            assert store.coverage(NODE, M1) == cover
        # Rows and coverage agree exactly (a row per covered window), checksums hold.
        assert store.verify() == []


def _ts(frame: pd.DataFrame, values: list[int]) -> pd.DataFrame:
    out = frame.iloc[: len(values)].copy()
    out["ts"] = pd.to_datetime(values, unit="s", utc=True).as_unit("ns")
    return out


GOOD = bars(D0 + DAY, D0 + DAY + 600)
BAD_FRAMES = [
    pytest.param(GOOD.drop(columns="flags"), id="missing column"),
    pytest.param(GOOD.assign(extra=1.0), id="extra column"),
    pytest.param(GOOD[["ts", "high", "open", "low", "close", "volume", "flags"]], id="reordered"),
    pytest.param(GOOD.assign(ts=GOOD["ts"].dt.as_unit("us")), id="ts in microseconds"),
    pytest.param(GOOD.assign(ts=GOOD["ts"].dt.tz_localize(None)), id="naive ts"),
    pytest.param(GOOD.assign(ts=GOOD["ts"].dt.tz_convert("Asia/Seoul")), id="ts not UTC"),
    pytest.param(GOOD.assign(ts=GOOD["ts"].astype("int64")), id="ts as ints"),
    pytest.param(GOOD.assign(open=GOOD["open"].astype("float32")), id="float32 price"),
    pytest.param(GOOD.assign(volume=GOOD["volume"].astype("Float64")), id="nullable Float64"),
    pytest.param(GOOD.assign(flags=GOOD["flags"].astype("int64")), id="int64 flags"),
    pytest.param(_ts(GOOD, [D0 + DAY - 60, D0 + DAY]), id="row before start"),
    pytest.param(_ts(GOOD, [D0 + DAY, D0 + 2 * DAY]), id="row at end"),
    pytest.param(_ts(GOOD, [D0 + DAY, D0 + DAY + 60, D0 + DAY + 60]), id="duplicate ts"),
    pytest.param(_ts(GOOD, [D0 + DAY + 60, D0 + DAY]), id="descending ts"),
    pytest.param(_ts(GOOD, [D0 + DAY, D0 + DAY + 30]), id="ts off the 1m grid"),
    pytest.param(GOOD.to_dict("list"), id="not a DataFrame"),
]


@pytest.mark.parametrize("frame", BAD_FRAMES)
def test_bad_frames_raise_and_change_nothing(store: LocalStore, month: pd.DataFrame, frame) -> None:
    before = dump(store.path)
    with pytest.raises(StoreError, match=r"^frame: "):
        store.write(NODE, M1, D0 + DAY, D0 + 2 * DAY, frame)
    assert dump(store.path) == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"start": D0 + 30}, "start", id="misaligned start"),
        pytest.param({"end": D0 + DAY + 1}, "end", id="misaligned end"),
        pytest.param({"start": D0 + 2 * DAY, "end": D0}, "end", id="reversed"),
        pytest.param({"start": float(D0)}, "start", id="float start"),
        pytest.param({"covered": RangeSet([(D0, D0 + 2 * DAY)])}, "covered", id="covered outside"),
        pytest.param({"covered": RangeSet([(D0 + 30, D0 + 90)])}, "covered", id="covered off grid"),
        pytest.param({"covered": [(D0, D0 + DAY)]}, "covered", id="covered not a RangeSet"),
        pytest.param({"node_id": "a b"}, "node_id", id="bad node id"),
        pytest.param({"interval": "7m"}, "interval", id="bad interval"),
    ],
)
def test_bad_arguments_raise_invalid_request(store: LocalStore, kwargs: dict, field: str) -> None:
    args = {"node_id": NODE, "interval": M1, "start": D0, "end": D0 + DAY, "frame": bars(D0, D0)}
    args.update(kwargs)
    with pytest.raises(InvalidRequestError) as info:
        store.write(**args)
    assert info.value.field == field
    assert dump(store.path) == ([], [])


def test_rows_outside_coverage_are_refused(store: LocalStore) -> None:
    """A bar is visible only if coverage vouches for it (invariant 1)."""
    frame = bars(D0, D0 + 3600)
    with pytest.raises(StoreError, match="outside coverage"):
        store.write(NODE, M1, D0, D0 + DAY, frame, covered=RangeSet([(D0, D0 + 1800)]))
    assert dump(store.path) == ([], [])
    # Rows already covered by an earlier write may be replaced without new coverage.
    store.write(NODE, M1, D0, D0 + DAY, frame)
    store.write(NODE, M1, D0, D0 + 3600, bars(D0, D0 + 3600, volume=2.0), covered=RangeSet())
    assert (store.read(NODE, M1, D0, D0 + DAY)["volume"] == 2.0).all()


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize(
    "make_blob",
    [
        pytest.param(lambda good: b"\xff" * 64, id="garbage"),
        pytest.param(lambda good: b"", id="empty"),
        pytest.param(lambda good: good[: len(good) // 2], id="truncated body"),
        pytest.param(lambda good: good[:100], id="truncated metadata"),
        pytest.param(
            lambda good: _arrow_bytes(pa.table({"ts": [1, 2], "price": [1.0, 2.0]})),
            id="another schema",
        ),
    ],
)
def test_corrupt_chunks_raise_store_error(
    store: LocalStore, month: pd.DataFrame, make_blob
) -> None:
    good = dump(store.path)[0][0][4]
    store.read(NODE, M1, D0, D0 + DAY)  # the good blob's layout is now cached
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE chunks SET data = ? WHERE chunk_start = ?", (make_blob(good), D0))
    conn.close()
    with pytest.raises(StoreError, match=r"^chunk: "):
        store.read(NODE, M1, D0, D0 + DAY)
    pd.testing.assert_frame_equal(
        store.read(NODE, M1, D0 + DAY, D0 + 2 * DAY), month[1440:2880].reset_index(drop=True)
    )


def test_uneven_column_layout_is_read_column_by_column(
    store: LocalStore, month: pd.DataFrame
) -> None:
    """The one-copy path needs evenly spaced columns; the fallback gives the same frame."""
    blob = dump(store.path)[0][0][4]
    layout = _arrow.layout_of(blob)
    assert layout.stride == 8 * 1440
    key = blob[: _arrow._metadata_end(blob)]
    _arrow._layouts[key] = layout._replace(stride=0)
    try:
        pd.testing.assert_frame_equal(
            store.read(NODE, M1, D0 + 60, D0 + DAY), month[1:1440].reset_index(drop=True)
        )
    finally:
        _arrow._layouts.pop(key, None)


def test_threads_read_while_one_writes(store: LocalStore, month: pd.DataFrame) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                got = store.read(NODE, M1, D0, D0 + 2 * DAY)
                assert len(got) == 2880
                assert got["volume"].iloc[:1440].nunique() == 1 or got["volume"].iloc[0] < 1
        except BaseException as exc:  # surfaced by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(20):
        store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY, volume=float(k + 1)))
    stop.set()
    for t in threads:
        t.join(10)
    assert not errors, errors[0]
    assert (store.read(NODE, M1, D0, D0 + DAY)["volume"] == 20.0).all()


# -- window locks ----------------------------------------------------------------
def test_window_lock_excludes_a_second_thread(store: LocalStore) -> None:
    events: list[str] = []
    held = threading.Event()

    def other() -> None:
        with (
            pytest.raises(StoreError, match="not acquired"),
            store.window_lock(NODE, M1, D0, timeout=0.1),
        ):
            events.append("other entered early")
        with store.window_lock(NODE, M1, D0):
            events.append("other in")

    with store.window_lock(NODE, M1, D0):
        held.set()
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        # A different chunk, series or node is not blocked.
        with store.window_lock(NODE, M1, D0 + DAY, timeout=0):
            pass
        with store.window_lock("other", M1, D0, timeout=0):
            pass
        events.append("main out")
    thread.join(5)
    assert events == ["main out", "other in"]


def test_window_lock_is_released_on_exception(store: LocalStore) -> None:
    with pytest.raises(RuntimeError), store.window_lock(NODE, M1, D0):
        raise RuntimeError("fill failed")
    with store.window_lock(NODE, M1, D0, timeout=0):
        pass


def test_window_lock_files_are_hashed_names(store: LocalStore) -> None:
    with store.window_lock("x:..:..:etc", M1, D0):
        pass
    files = list(Path(f"{store.path}.locks").rglob("*.lock"))
    assert len(files) == 1 and "etc" not in str(files[0])
    with pytest.raises(InvalidRequestError, match="chunk_start"):
        store.window_lock(NODE, M1, D0 + 60).__enter__()
    with pytest.raises(InvalidRequestError, match="node_id"):
        store.window_lock("../x", M1, D0).__enter__()


# -- lifecycle -------------------------------------------------------------------
def _open_fds(path: Path) -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # fds close while we list them
            count += os.readlink(fd).startswith(str(path))
    return count


def test_close_closes_every_thread_connection(store: LocalStore, month: pd.DataFrame) -> None:
    def read_once() -> None:
        store.read(NODE, M1, D0, D0 + DAY)

    threads = [threading.Thread(target=read_once) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _open_fds(store.path) >= 4
    store.close()
    assert _open_fds(store.path) == 0
    calls = [
        lambda: store.read(NODE, M1, D0, D0 + DAY),
        lambda: store.read(NODE, M1, D0, D0),
        lambda: store.write(NODE, M1, D0, D0 + DAY, month.iloc[:1440]),
        lambda: store.coverage(NODE, M1),
        lambda: store.remove_coverage(NODE, M1, RangeSet([(D0, D0 + DAY)])),
        lambda: store.series(),
        lambda: store.window_lock(NODE, M1, D0).__enter__(),
    ]
    for call in calls:
        with pytest.raises(StoreError, match="closed"):
            call()
    errors: list[BaseException] = []

    def read_in_thread() -> None:
        try:
            read_once()
        except StoreError as exc:
            errors.append(exc)

    t = threading.Thread(target=read_in_thread)
    t.start()
    t.join()
    assert len(errors) == 1
    store.close()  # twice is harmless


def test_a_finished_thread_gives_its_connection_back(store: LocalStore) -> None:
    """Short-lived threads (executors, to_thread) must not pile up connections."""
    store.coverage(NODE, M1)
    threads = [threading.Thread(target=store.coverage, args=(NODE, M1)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Only the main thread's connection is still open (peeking: no public handle).
    assert len(store._pool) == 1


def test_a_forked_child_opens_its_own_connection(store: LocalStore, month: pd.DataFrame) -> None:
    """SQLite connections must not cross a fork; the store notices and reopens."""
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            if len(store.read(NODE, M1, D0, D0 + DAY)) == 1440:
                store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY, volume=5.0))
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (store.read(NODE, M1, D0, D0 + DAY)["volume"] == 5.0).all()


def test_context_manager_and_pickle(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    with LocalStore(path) as store:
        store.write(NODE, M1, D0, D0 + DAY, bars(D0, D0 + DAY))
        clone = pickle.loads(pickle.dumps(store))
    try:
        assert len(clone.read(NODE, M1, D0, D0 + DAY)) == 1440
    finally:
        clone.close()
    with pytest.raises(StoreError):
        store.coverage(NODE, M1)


def test_unopenable_path_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(StoreError, match="cannot open"):
        LocalStore(tmp_path / "dir.sqlite")


def test_foreign_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bars.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="version 99"):
        LocalStore(path)


_FORKING_HOLDER = """
import os, sys, time
from seamless_sdk import LocalStore
with LocalStore(sys.argv[1]).window_lock("demo:A", "1m", 0):
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    print(child, flush=True)
    time.sleep(60)
"""


def test_a_window_lock_dies_with_its_holder_even_if_it_forked(tmp_path: Path) -> None:
    # The lock file's descriptor is O_CLOEXEC, which a plain fork ignores: the
    # child kept the flock alive after its parent was killed.
    import signal
    import subprocess
    import sys

    path = tmp_path / "s.sqlite"
    LocalStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _FORKING_HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    child = 0
    try:
        assert holder.stdout is not None
        child = int(holder.stdout.readline())
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with LocalStore(path) as store, store.window_lock("demo:A", "1m", 0, timeout=5):
            pass
    finally:
        if child:  # first: it holds the pipe open too
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        holder.kill()
        holder.communicate(timeout=10)  # reaps it and closes its pipe
