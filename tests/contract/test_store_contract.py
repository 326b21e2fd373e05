"""The contract every bar store keeps (``seamless_sdk.stores.base.BarStore``).

One suite, run on LocalStore, PostgresStore and QuestDBStore
(``conftest.store_factory``): exact round trips, atomic and idempotent chunk
replaces, coverage of empty windows, bars and coverage committed together
(for readers in threads and in other processes), all-or-nothing batch
writes, hostile node ids rejected before any SQL, window locks across
threads and processes, and a closed store refusing every call.
"""

from __future__ import annotations

import multiprocessing
import re
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.bars import NS, STORED_COLUMNS, ts_from_seconds
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.frames import Bars
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import NODE_ID_PATTERN
from seamless_sdk.stores.base import BarStore, WindowWrite
from tests.contract.bars import (
    BASE,
    DAY,
    HOUR,
    NODE,
    check_consistent,
    frame,
    minutes,
    ts_seconds,
)
from tests.contract.conftest import StoreFactory
from tests.contract.workers import hold_lock, write_windows

ONE_STORE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SPAWN = multiprocessing.get_context("spawn")


def assert_same_bars(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal frames, value for value, bit for bit (``-0.0`` is not ``0.0``)."""
    assert list(got.columns) == list(STORED_COLUMNS)
    assert isinstance(got.index, pd.RangeIndex)
    assert got["ts"].dtype == "datetime64[ns, UTC]"
    assert len(got) == len(want)
    assert (got["ts"].to_numpy("int64") == want["ts"].to_numpy("int64")).all()
    for name in STORED_COLUMNS[1:-1]:
        assert got[name].dtype == np.float64
        assert (got[name].to_numpy().view(np.int64) == want[name].to_numpy().view(np.int64)).all()
    assert got["flags"].dtype == np.int32
    assert (got["flags"].to_numpy() == want["flags"].to_numpy()).all()


def test_is_a_bar_store(store: BarStore) -> None:
    assert isinstance(store, BarStore)


# -- round trip -----------------------------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def stored_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Any frame the store must keep exactly: any finite floats (subnormals,
    -0.0, huge ones) arranged to keep the quality rules, any flags."""
    offsets = sorted(draw(st.lists(st.integers(0, 1439), unique=True, max_size=40)))
    rows = [draw(st.tuples(finite, finite, finite, finite, finite)) for _ in offsets]
    flags = [draw(st.integers(0, 2**31 - 1)) for _ in offsets]
    open_ = [r[0] for r in rows]
    close = [r[1] for r in rows]
    return pd.DataFrame(
        {
            "ts": ts_from_seconds(np.array([BASE + 60 * m for m in offsets], dtype=np.int64)),
            "open": np.array(open_, dtype=np.float64),
            "high": np.array([max(o, c, r[2]) for o, c, r in zip(open_, close, rows, strict=True)]),
            "low": np.array([min(o, c, r[3]) for o, c, r in zip(open_, close, rows, strict=True)]),
            "close": np.array(close, dtype=np.float64),
            "volume": np.array([abs(r[4]) for r in rows], dtype=np.float64),
            "flags": np.array(flags, dtype=np.int32),
        }
    )


@ONE_STORE
@given(df=stored_frames())
def test_round_trip_is_exact(store: BarStore, df: pd.DataFrame) -> None:
    # Every example replaces the same day, so examples cannot see each other.
    store.write(NODE, "1m", BASE, BASE + DAY, df)
    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), df)
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])


def test_read_returns_only_the_asked_range(store: BarStore) -> None:
    day = frame(minutes(BASE, BASE + 2 * DAY))
    store.write(NODE, "1m", BASE, BASE + 2 * DAY, day)
    got = store.read(NODE, "1m", BASE + DAY - HOUR, BASE + DAY + HOUR)
    assert_same_bars(got, day.iloc[1440 - 60 : 1440 + 60].reset_index(drop=True))
    assert len(store.read(NODE, "1m", BASE + 600, BASE + 600)) == 0
    assert len(store.read(NODE, "1h", BASE, BASE + DAY)) == 0  # another series
    assert len(store.read("contract:other", "1m", BASE, BASE + DAY)) == 0


# -- replace ----------------------------------------------------------------------
def test_a_window_write_replaces_exactly_that_window(store: BarStore) -> None:
    full = frame(minutes(BASE, BASE + 2 * DAY), version=1)
    store.write(NODE, "1m", BASE, BASE + 2 * DAY, full)
    # A window across the chunk boundary, with fewer bars than before.
    lo, hi = BASE + DAY - 2 * HOUR, BASE + DAY + 3 * HOUR
    sparse = frame(minutes(lo, hi)[::3], version=2)
    store.write(NODE, "1m", lo, hi, sparse)
    got = store.read(NODE, "1m", BASE, BASE + 2 * DAY)
    ts = full["ts"]
    keep = (ts < ts_from_seconds(np.array([lo]))[0]) | (ts >= ts_from_seconds(np.array([hi]))[0])
    want = pd.concat([full[keep], sparse]).sort_values("ts", ignore_index=True)
    assert_same_bars(got, want)
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + 2 * DAY)])
    # A whole-day write with no bars empties the day and keeps it covered.
    store.write(NODE, "1m", BASE, BASE + DAY, frame([]))
    assert ts_seconds(store.read(NODE, "1m", BASE, BASE + 2 * DAY)).min() >= BASE + DAY


def test_rewriting_a_window_is_idempotent(store: BarStore) -> None:
    df = frame(minutes(BASE, BASE + DAY)[::2], version=3)
    for _ in range(3):
        store.write(NODE, "1m", BASE, BASE + DAY, df)
        assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), df)
        assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])
    assert store.series() == [(NODE, "1m")]


def test_a_refused_write_changes_nothing(store: BarStore) -> None:
    df = frame(minutes(BASE, BASE + DAY), version=1)
    store.write(NODE, "1m", BASE, BASE + DAY, df)
    bad = frame(minutes(BASE, BASE + DAY), version=2)
    bad.loc[5, "high"] = bad.loc[5, "low"] - 1  # breaks high >= max(open, close)
    with pytest.raises(StoreError):
        store.write(NODE, "1m", BASE, BASE + DAY, bad)
    # Rows the write does not cover, where nothing is covered yet (the next day).
    outside = frame(minutes(BASE + DAY, BASE + 2 * DAY), version=2)
    with pytest.raises(StoreError):
        store.write(
            NODE,
            "1m",
            BASE + DAY,
            BASE + 2 * DAY,
            outside,
            RangeSet([(BASE + DAY, BASE + DAY + HOUR)]),
        )
    with pytest.raises(InvalidRequestError):
        store.write(NODE, "1m", BASE + 30, BASE + DAY, df)
    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), df)
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])


# -- coverage ---------------------------------------------------------------------
def test_empty_windows_are_covered(store: BarStore) -> None:
    store.write(NODE, "1m", BASE, BASE + DAY, frame([]))
    got = store.read(NODE, "1m", BASE, BASE + DAY)
    assert len(got) == 0
    assert list(got.columns) == list(STORED_COLUMNS)
    assert got["ts"].dtype == "datetime64[ns, UTC]"
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])
    # A partly covered write: only `covered` is added, here empty of bars too.
    store.write(
        NODE,
        "1m",
        BASE + DAY,
        BASE + 2 * DAY,
        frame([]),
        RangeSet([(BASE + DAY, BASE + DAY + HOUR)]),
    )
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY + HOUR)])
    assert store.series() == [(NODE, "1m")]


def test_remove_coverage_forgets_bars_and_coverage(store: BarStore) -> None:
    df = frame(minutes(BASE, BASE + 2 * DAY))
    store.write(NODE, "1m", BASE, BASE + 2 * DAY, df)
    gone = RangeSet([(BASE + HOUR, BASE + 2 * HOUR), (BASE + DAY, BASE + 2 * DAY)])
    store.remove_coverage(NODE, "1m", gone)
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + 2 * DAY)]).subtract(gone)
    ts = ts_seconds(store.read(NODE, "1m", BASE, BASE + 2 * DAY))
    assert len(ts) == 1440 - 60
    assert not ((ts >= BASE + HOUR) & (ts < BASE + 2 * HOUR)).any()
    store.remove_coverage(NODE, "1m", RangeSet([(BASE, BASE + 2 * DAY)]))
    assert store.coverage(NODE, "1m") == RangeSet()
    assert store.series() == []
    store.remove_coverage("contract:never", "1m", RangeSet([(BASE, BASE + DAY)]))  # a no-op


# -- bars and coverage together ---------------------------------------------------
def _hours(n: int) -> list[tuple[int, int]]:
    return [(BASE + i * HOUR, BASE + (i + 1) * HOUR) for i in range(n)]


def _watch(reader: BarStore, node: str, until: threading.Event | Any, end: int) -> list[str]:
    """Read coverage, bars, coverage in a loop; what was inconsistent."""
    problems = []
    reads = 0
    while not until.is_set() or reads < 3:
        before = reader.coverage(node, "1m")
        bars = reader.read(node, "1m", BASE, end)
        after = reader.coverage(node, "1m")
        problem = check_consistent(before, bars, after)
        if problem:
            problems.append(problem)
        reads += 1
    return problems


def test_readers_see_bars_and_coverage_together(store_factory: StoreFactory) -> None:
    writer, reader = store_factory.open(), store_factory.open()
    windows = _hours(48 if store_factory.kind != "questdb" else 8)
    done = threading.Event()
    problems: list[str] = []
    thread = threading.Thread(
        target=lambda: problems.extend(_watch(reader, NODE, done, BASE + 2 * DAY))
    )
    thread.start()
    try:
        for s, e in windows:
            writer.write(NODE, "1m", s, e, frame(minutes(s, e)))
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert problems == []
    assert reader.coverage(NODE, "1m") == RangeSet([(windows[0][0], windows[-1][1])])


def test_readers_never_see_half_a_replace(store_factory: StoreFactory) -> None:
    writer, reader = store_factory.open(), store_factory.open()
    lo, hi = BASE + DAY - HOUR, BASE + DAY + HOUR  # two chunks
    writer.write(NODE, "1m", lo, hi, frame(minutes(lo, hi), version=0))
    done = threading.Event()
    seen: list[set[float]] = []

    def watch() -> None:
        while not done.is_set() or len(seen) < 3:
            got = reader.read(NODE, "1m", lo, hi)
            seen.append(set(got["volume"].tolist()) | ({-1.0} if len(got) != 120 else set()))

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        for version in range(1, 30 if store_factory.kind != "questdb" else 6):
            writer.write(NODE, "1m", lo, hi, frame(minutes(lo, hi), version=float(version)))
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert all(len(versions) == 1 and -1.0 not in versions for versions in seen), seen


def test_a_reader_process_while_another_process_writes(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    store.coverage(NODE, "1m")  # the store exists before the child opens it
    windows = _hours(36 if store_factory.kind != "questdb" else 6)
    ready = SPAWN.Event()
    child = SPAWN.Process(target=write_windows, args=(store, NODE, windows, ready))
    child.start()
    try:
        assert ready.wait(120)

        class ChildRunning:
            def is_set(self) -> bool:
                return not child.is_alive()

        problems = _watch(store, NODE, ChildRunning(), BASE + 2 * DAY)
        child.join(timeout=120)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    assert problems == []
    assert store.coverage(NODE, "1m") == RangeSet([(windows[0][0], windows[-1][1])])
    assert len(store.read(NODE, "1m", BASE, BASE + 2 * DAY)) == 60 * len(windows)


@pytest.mark.parametrize("span", [HOUR, DAY], ids=["one-chunk", "many-chunks"])
def test_concurrent_writers_of_one_series_lose_nothing(
    store_factory: StoreFactory, span: int
) -> None:
    # Each write reads coverage, adds its window and stores it: writers of one
    # series at once must not lose each other's coverage or bars, whether their
    # windows share a chunk (hours of one day) or not (days).
    count = 12 if store_factory.kind != "questdb" else 6
    hours = [(BASE + i * span, BASE + (i + 1) * span) for i in range(count)]
    writers = [store_factory.open() for _ in range(3)]
    errors: list[BaseException] = []

    def write(store: BarStore, windows: list[tuple[int, int]]) -> None:
        try:
            for s, e in windows:
                store.write(NODE, "1m", s, e, frame(minutes(s, e)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(w, hours[i :: len(writers)]))
        for i, w in enumerate(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    reader = store_factory.open()
    assert reader.coverage(NODE, "1m") == RangeSet([(hours[0][0], hours[-1][1])])
    assert len(reader.read(NODE, "1m", BASE, hours[-1][1])) == span // 60 * len(hours)


# -- batch writes -----------------------------------------------------------------
def test_write_many_applies_every_window_in_order(store: BarStore) -> None:
    a, b = "contract:A", "contract:B"
    writes = [
        WindowWrite(a, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY), version=1)),
        WindowWrite(b, "1m", BASE, BASE + 2 * DAY, frame(minutes(BASE, BASE + 2 * DAY))),
        WindowWrite(a, "1h", BASE, BASE + DAY, frame(np.arange(BASE, BASE + DAY, HOUR))),
        # A later item overrides part of an earlier one, in order.
        WindowWrite(a, "1m", BASE + HOUR, BASE + 2 * HOUR, frame([]), None),
    ]
    store.write_many(writes)
    assert store.series() == [(a, "1m"), (a, "1h"), (b, "1m")]
    assert len(store.read(a, "1m", BASE, BASE + DAY)) == 1440 - 60
    assert len(store.read(b, "1m", BASE, BASE + 2 * DAY)) == 2 * 1440
    assert len(store.read(a, "1h", BASE, BASE + DAY)) == 24
    assert store.coverage(a, "1m") == RangeSet([(BASE, BASE + DAY)])
    store.write_many([])  # nothing to do


def test_write_many_is_all_or_nothing(store: BarStore) -> None:
    before = frame(minutes(BASE, BASE + DAY), version=1)
    store.write(NODE, "1m", BASE, BASE + DAY, before)
    good = [
        WindowWrite(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY), version=2)),
        WindowWrite("contract:B", "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY))),
    ]
    # The failing item is last, so the others were applied in the transaction
    # before it failed: it fails inside the store (rows outside its coverage).
    late = WindowWrite(
        "contract:C",
        "1m",
        BASE,
        BASE + DAY,
        frame(minutes(BASE, BASE + DAY)),
        RangeSet([(BASE, BASE + HOUR)]),
    )
    with pytest.raises(StoreError):
        store.write_many([*good, late])
    invalid = WindowWrite("bad node", "1m", BASE, BASE + DAY, frame([]))
    with pytest.raises(InvalidRequestError):
        store.write_many([*good, invalid])
    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), before)
    assert store.coverage("contract:B", "1m") == RangeSet()
    assert len(store.read("contract:B", "1m", BASE, BASE + DAY)) == 0
    assert store.series() == [(NODE, "1m")]


def test_a_window_given_as_bars_is_stored_as_its_frame(store: BarStore) -> None:
    # What a fill hands the store (ConformanceResult.bars): the same bytes as the frame.
    df = frame(minutes(BASE, BASE + DAY)[::2], version=4)
    df.loc[3, "flags"] = 5
    store.write_many([WindowWrite(NODE, "1m", BASE, BASE + DAY, Bars.from_frame(df))])
    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), df)
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])


@pytest.mark.parametrize(
    "damage",
    ["high below low", "descending ts", "duplicate ts", "misaligned ts", "outside", "flags dtype"],
)
def test_bars_that_break_a_rule_are_refused_like_a_frame(store: BarStore, damage: str) -> None:
    before = frame(minutes(BASE, BASE + DAY), version=1)
    store.write(NODE, "1m", BASE, BASE + DAY, before)
    bars = Bars.from_frame(frame(minutes(BASE, BASE + DAY), version=2))
    wide, flags = bars.wide.copy(), bars.flags
    floats = wide[1:].view(np.float64)
    if damage == "high below low":
        floats[1, 5] = floats[2, 5] - 1.0
    elif damage == "descending ts":
        wide[0, [3, 4]] = wide[0, [4, 3]]
    elif damage == "duplicate ts":
        wide[0, 4] = wide[0, 3]
    elif damage == "misaligned ts":
        wide[0, 7] += NS
    elif damage == "outside":
        wide[0, -1] = (BASE + DAY) * NS
    else:
        flags = flags.astype(np.int64)
    bad = Bars(wide, flags)
    with pytest.raises(StoreError):
        store.write_many([WindowWrite(NODE, "1m", BASE, BASE + DAY, bad)])
    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), before)


# -- hostile node ids ---------------------------------------------------------------
HOSTILE = [
    "x'; DROP TABLE chunks; --",
    "a b",
    "demo:A\n",
    "",
    "-leading",
    "é",
    "a" * 129,
    "../../etc/passwd",
    "demo:A\x00",
    "demo:A; SELECT 1",
]


def _calls(node: Any) -> list[Any]:
    df = frame(minutes(BASE, BASE + HOUR))
    return [
        lambda s: s.read(node, "1m", BASE, BASE + DAY),
        lambda s: s.coverage(node, "1m"),
        lambda s: s.write(node, "1m", BASE, BASE + HOUR, df),
        lambda s: s.write_many([WindowWrite(node, "1m", BASE, BASE + HOUR, df)]),
        lambda s: s.remove_coverage(node, "1m", RangeSet([(BASE, BASE + HOUR)])),
        lambda s: s.window_lock(node, "1m", BASE).__enter__(),
    ]


def _rejects(store: BarStore, statements: list[str], node: Any) -> None:
    for call in _calls(node):
        with pytest.raises(InvalidRequestError) as info:
            call(store)
        assert info.value.field == "node_id"
    assert statements == [], f"SQL ran for node id {node!r}: {statements[:3]}"
    store.coverage("contract:ok", "1m")
    assert statements, "the SQL spy saw nothing: it does not watch this store"


@pytest.mark.parametrize("node", [*HOSTILE, None, 5, b"demo:A", ("demo:A",)])
def test_bad_node_ids_never_reach_sql(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, node: Any
) -> None:
    with store_factory.spied(monkeypatch) as (store, statements):
        _rejects(store, statements, node)
        assert store.series() == []


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(node=st.text(max_size=140).filter(lambda s: not re.fullmatch(NODE_ID_PATTERN, s)))
def test_any_bad_node_id_is_refused_before_sql(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, node: str
) -> None:
    with store_factory.spied(monkeypatch) as (store, statements):
        _rejects(store, statements, node)


# -- bad bounds and batch arguments ------------------------------------------------
@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        pytest.param(BASE + 0.5, BASE + 120, "start", id="fractional float"),
        pytest.param(float(BASE), BASE + 120, "start", id="whole float"),
        pytest.param("2024-01-01", BASE + 120, "start", id="string"),
        pytest.param(pd.Timestamp(BASE, unit="s", tz="UTC"), BASE + 120, "start", id="Timestamp"),
        pytest.param(True, BASE, "start", id="bool"),
        pytest.param(BASE, 10**20, "end", id="past the time range"),
    ],
)
def test_bad_read_bounds_never_reach_sql(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, start: Any, end: Any, field: str
) -> None:
    # Reads once cast their bounds with int(): a float start of BASE + 0.5
    # returned the bar at BASE, before start; a string was a raw ValueError.
    with store_factory.spied(monkeypatch) as (store, statements):
        # The batch calls are optional (stores.base falls back to one per node).
        for name, args in [
            ("read", (NODE, "1m", start, end)),
            ("read_many", ([NODE], "1m", start, end)),
            ("coverage_many", ([NODE], "1m", start, end)),
        ]:
            if hasattr(store, name):
                with pytest.raises(InvalidRequestError) as info:
                    getattr(store, name)(*args)
                assert info.value.field == field
        assert statements == [], statements[:3]


def test_bad_batch_arguments_never_reach_sql(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, tuple[Any, ...], str]] = [
        ("read_many", (None, "1m", BASE, BASE + 60), "node_ids"),
        ("coverage_many", (5, "1m"), "node_ids"),
        ("coverage_many", ([NODE], "1m", BASE + 60, BASE), "end"),
        ("write_many", (None,), "writes"),
        ("write_many", (WindowWrite(NODE, "1m", BASE, BASE + HOUR, frame([])),), "writes"),
    ]
    with store_factory.spied(monkeypatch) as (store, statements):
        for name, args, field in calls:
            if hasattr(store, name):  # the batch reads are optional
                with pytest.raises(InvalidRequestError) as info:
                    getattr(store, name)(*args)
                assert info.value.field == field
        with pytest.raises(InvalidRequestError) as info:
            store.window_lock(NODE, "1m", "x").__enter__()
        assert info.value.field == "chunk_start"
        assert statements == [], statements[:3]


# -- window locks -----------------------------------------------------------------
def test_window_lock_excludes_other_holders(store_factory: StoreFactory) -> None:
    one, two = store_factory.open(), store_factory.open()
    order: list[str] = []
    held = threading.Event()

    def second() -> None:
        held.wait(30)
        with two.window_lock(NODE, "1m", BASE):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with one.window_lock(NODE, "1m", BASE):
        held.set()
        time.sleep(0.3)
        order.append("first")
        with two.window_lock(NODE, "1m", BASE + DAY):  # another chunk is free
            order.append("other chunk")
    thread.join(timeout=30)
    assert order == ["first", "other chunk", "second"]
    with pytest.raises(InvalidRequestError):
        one.window_lock(NODE, "1m", BASE + 60).__enter__()  # not a chunk start


def test_a_dead_holders_lock_is_released(store_factory: StoreFactory) -> None:
    store = store_factory.open()
    held = SPAWN.Event()
    child = SPAWN.Process(target=hold_lock, args=(store, NODE, BASE, held))
    child.start()
    try:
        assert held.wait(120)
        got = threading.Event()

        def take() -> None:
            with store.window_lock(NODE, "1m", BASE):
                got.set()

        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        assert not got.wait(0.5)  # the child holds it
        child.kill()
        assert got.wait(30)  # released with its holder
        thread.join(timeout=30)
    finally:
        if child.is_alive():
            child.kill()
        child.join()


# -- lifecycle --------------------------------------------------------------------
def test_a_closed_store_raises(store: BarStore) -> None:
    store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + HOUR)))
    store.close()
    store.close()  # harmless
    df = frame([])
    calls = [
        lambda: store.read(NODE, "1m", BASE, BASE + DAY),
        lambda: store.coverage(NODE, "1m"),
        lambda: store.series(),
        lambda: store.write(NODE, "1m", BASE, BASE + DAY, df),
        lambda: store.write_many([WindowWrite(NODE, "1m", BASE, BASE + DAY, df)]),
        lambda: store.remove_coverage(NODE, "1m", RangeSet([(BASE, BASE + DAY)])),
        lambda: store.window_lock(NODE, "1m", BASE).__enter__(),
    ]
    for call in calls:
        with pytest.raises(StoreError):
            call()


def test_ts_is_nanoseconds_on_the_grid(store: BarStore) -> None:
    df = frame(minutes(BASE, BASE + HOUR))
    store.write(NODE, "1m", BASE, BASE + HOUR, df)
    ts = store.read(NODE, "1m", BASE, BASE + HOUR)["ts"].to_numpy("int64")
    assert (ts % (60 * NS) == 0).all()
