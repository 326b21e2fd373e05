"""Batch reads (``stores.base.coverage_many`` / ``read_bars_many`` /
``read_covered_many``, a store's own ``coverage_many``/``read_many``/
``read_bars_many``/``read_covered_many`` where it has them) answer
exactly what the per-series calls answer, on every store of the contract
suite; on LocalStore, which batches in SQL, damage in one series is caught
and named as the single read names it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import (
    BarStore,
    BatchReads,
    SnapshotReads,
    coverage_many,
    read_bars_many,
    read_covered_many,
)
from tests.contract.bars import BASE, DAY, HOUR, frame, minutes
from tests.contract.conftest import StoreFactory
from tests.contract.test_store_contract import HOSTILE, assert_same_bars

M1 = parse_interval("1m")
NODES = ["batch:A", "batch:B", "batch:C", "batch:D", "batch:E"]


def _fill(store: BarStore) -> None:
    """Series of every shape: several days, a partly covered day, a covered
    window without bars, a series of another interval, and one never written."""
    a, b, c, d, _ = NODES
    store.write(a, "1m", BASE, BASE + 3 * DAY, frame(minutes(BASE, BASE + 3 * DAY), 1.0))
    store.write(
        b,
        "1m",
        BASE + DAY,
        BASE + 2 * DAY,
        frame(minutes(BASE + DAY + HOUR, BASE + DAY + 5 * HOUR), 2.0),
        covered=RangeSet([(BASE + DAY, BASE + DAY + 6 * HOUR)]),
    )
    store.write(c, "1m", BASE, BASE + DAY, frame([]))  # covered, no bars
    store.write(d, "1h", BASE, BASE + 2 * DAY, frame(np.arange(BASE, BASE + 2 * DAY, HOUR)))


def _bars_frame(bars: Any) -> pd.DataFrame:
    return bars.to_frame(flags=True)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (BASE, BASE + 3 * DAY),  # whole chunks
        (BASE + DAY + 2 * HOUR, BASE + DAY + 3 * HOUR),  # inside one chunk
        (BASE + HOUR, BASE + 2 * DAY + 60),  # cut at both ends
        (BASE - DAY, BASE),  # before everything
    ],
)
def test_batch_read_equals_one_read_per_node(store: BarStore, start: int, end: int) -> None:
    _fill(store)
    asked = [NODES[4], *NODES, NODES[1]]  # unordered, one id twice
    got = read_bars_many(store, asked, M1, start, end)
    assert list(got) == list(dict.fromkeys(asked))
    for node in NODES:
        assert_same_bars(_bars_frame(got[node]), store.read(node, "1m", start, end))
    if isinstance(store, BatchReads):
        frames = store.read_many(asked, M1, start, end)
        assert list(frames) == list(dict.fromkeys(asked))
        for node in NODES:
            assert_same_bars(frames[node], store.read(node, "1m", start, end))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (BASE, BASE + 3 * DAY),
        (BASE + DAY + 2 * HOUR, BASE + DAY + 3 * HOUR),
        (BASE + HOUR, BASE + 2 * DAY + 60),
        (BASE - DAY, BASE),
        (BASE + DAY, BASE),  # reversed: nothing
    ],
)
def test_covered_read_is_coverage_and_bars_of_the_window(
    store: BarStore, start: int, end: int
) -> None:
    _fill(store)
    asked = [NODES[4], *NODES, NODES[1]]
    got = read_covered_many(store, asked, M1, start, end)
    assert list(got) == list(dict.fromkeys(asked))
    for node in NODES:
        want = store.coverage(node, "1m").clip(start, end) if start < end else RangeSet()
        assert got[node].coverage == want, node
        assert_same_bars(_bars_frame(got[node].bars), store.read(node, "1m", start, end))
    # Every shipped store reads both at once (a read must not straddle a remove).
    assert isinstance(store, SnapshotReads)


def test_batch_frames_do_not_share_rows(store: BarStore) -> None:
    _fill(store)
    got = read_bars_many(store, NODES[:2], M1, BASE, BASE + 3 * DAY)
    a, b = (_bars_frame(got[n]) for n in NODES[:2])
    before = b.copy()
    a.loc[0, "close"] = -1.0  # writing into one series' frame...
    pd.testing.assert_frame_equal(b, before)  # ...leaves the other alone
    assert_same_bars(
        _bars_frame(read_bars_many(store, NODES[:1], M1, BASE, BASE + 3 * DAY)[NODES[0]]),
        store.read(NODES[0], "1m", BASE, BASE + 3 * DAY),
    )


def test_coverage_many_equals_coverage_per_node(store: BarStore) -> None:
    _fill(store)
    whole = coverage_many(store, NODES, M1)
    assert list(whole) == NODES
    for node in NODES:
        assert whole[node] == store.coverage(node, "1m")
    lo, hi = BASE + DAY + 2 * HOUR, BASE + 2 * DAY + HOUR
    clipped = coverage_many(store, [*NODES, NODES[0]], M1, lo, hi)
    assert list(clipped) == NODES
    for node in NODES:
        assert clipped[node] == store.coverage(node, "1m").clip(lo, hi)
    assert coverage_many(store, [], M1) == {}


def test_an_empty_or_reversed_batch_reads_nothing(store: BarStore) -> None:
    _fill(store)
    for start, end in ((BASE, BASE), (BASE + DAY, BASE)):
        got = read_bars_many(store, NODES[:2], M1, start, end)
        assert list(got) == NODES[:2]
        assert all(len(b) == 0 for b in got.values())
    assert read_bars_many(store, [], M1, BASE, BASE + DAY) == {}


@pytest.mark.parametrize("bad", [*HOSTILE[:4], None, 5])
def test_a_bad_node_id_in_a_batch_stops_it_before_sql(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, bad: Any
) -> None:
    with store_factory.spied(monkeypatch) as (store, statements):
        for call in (
            lambda: read_bars_many(store, ["batch:ok", bad], M1, BASE, BASE + DAY),
            lambda: coverage_many(store, ["batch:ok", bad], M1, BASE, BASE + DAY),
        ):
            with pytest.raises(InvalidRequestError) as info:
                call()
            assert info.value.field == "node_id"
        if not isinstance(store, BatchReads):
            return  # the per-node fallback may have read the good id first
        assert statements == [], f"SQL ran for node id {bad!r}: {statements[:3]}"


def test_a_closed_store_refuses_batch_reads(store: BarStore) -> None:
    _fill(store)
    store.close()
    with pytest.raises(StoreError):
        read_bars_many(store, NODES, M1, BASE, BASE + DAY)
    with pytest.raises(StoreError):
        coverage_many(store, NODES, M1)


@pytest.mark.parametrize("nodes", [NODES[:1], NODES])
def test_a_batch_is_a_few_statements_for_any_number_of_nodes(
    store_factory: StoreFactory, monkeypatch: pytest.MonkeyPatch, nodes: list[str]
) -> None:
    if store_factory.kind == "questdb":
        pytest.skip("QuestDBStore reads a batch series by series")
    _fill(store_factory.open())
    with store_factory.spied(monkeypatch) as (store, statements):
        read_bars_many(store, nodes, M1, BASE, BASE + 3 * DAY)
        # LocalStore: BEGIN, coverage, (row counts,) chunks, ROLLBACK, one
        # snapshot it checks chunks against; PostgresStore: one SELECT.
        many = 5 if len(nodes) > 1 else 4
        assert len(statements) == (many if store_factory.kind == "local" else 1), statements
        statements.clear()
        coverage_many(store, nodes, M1, BASE, BASE + DAY)
        assert len(statements) == 1, statements


# -- damage in one series of a LocalStore batch ---------------------------------
def _local_path(store_factory: StoreFactory) -> Path:
    if store_factory.kind != "local":
        pytest.skip("damages a LocalStore file")
    store = store_factory.open()
    _fill(store)
    path: Path = store.path  # type: ignore[attr-defined]
    store.close()
    return path


def _raw(path: Path, sql: str, params: tuple[Any, ...]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        assert conn.execute(sql, params).rowcount >= 1
    conn.close()


def _same_error(store: BarStore, node: str, start: int, end: int) -> StoreCorruptedError:
    """The batch raises what the damaged node's own read raises."""
    with pytest.raises(StoreCorruptedError) as single:
        store.read(node, "1m", start, end)
    with pytest.raises(StoreCorruptedError) as batch:
        read_bars_many(store, NODES, M1, start, end)
    one, many = single.value, batch.value
    assert (many.node_id, many.interval, many.chunk_start, many.reason) == (
        one.node_id,
        one.interval,
        one.chunk_start,
        one.reason,
    )
    return many


def test_a_checksum_mismatch_in_one_series_is_named(store_factory: StoreFactory) -> None:
    path = _local_path(store_factory)
    day = BASE + DAY
    _raw(path, "UPDATE chunks SET crc = crc + 1 WHERE node_id = ? AND chunk_start = ?",
         (NODES[1], day))  # fmt: skip
    store = store_factory.open()
    err = _same_error(store, NODES[1], BASE, BASE + 3 * DAY)
    assert (err.node_id, err.chunk_start, err.reason) == (NODES[1], day, "checksum mismatch")
    # The other series read as before, alone or in a batch without the damaged one.
    rest = [NODES[0], NODES[2]]
    got = read_bars_many(store, rest, M1, BASE, BASE + 3 * DAY)
    for node in rest:
        assert_same_bars(_bars_frame(got[node]), store.read(node, "1m", BASE, BASE + 3 * DAY))


def test_a_vanished_row_in_one_series_is_missing(store_factory: StoreFactory) -> None:
    path = _local_path(store_factory)
    _raw(path, "DELETE FROM chunks WHERE node_id = ? AND chunk_start = ?", (NODES[0], BASE + DAY))
    err = _same_error(store_factory.open(), NODES[0], BASE, BASE + 3 * DAY)
    assert err.reason.startswith("missing")


def test_bars_whose_coverage_is_lost_are_refused(store_factory: StoreFactory) -> None:
    path = _local_path(store_factory)
    _raw(path, "DELETE FROM coverage WHERE node_id = ?", (NODES[2],))
    err = _same_error(store_factory.open(), NODES[2], BASE, BASE + DAY)
    assert err.reason.startswith("uncovered")


def test_a_damaged_coverage_row_in_a_batch_is_named(store_factory: StoreFactory) -> None:
    path = _local_path(store_factory)
    _raw(path, "UPDATE coverage SET crc = crc + 1 WHERE node_id = ?", (NODES[1],))
    store = store_factory.open()
    err = _same_error(store, NODES[1], BASE, BASE + 3 * DAY)
    assert err.node_id == NODES[1] and "checksum" in err.reason
    with pytest.raises(StoreCorruptedError) as info:
        coverage_many(store, NODES, M1)
    assert info.value.node_id == NODES[1]


def test_many_short_series_across_blocks(store: BarStore) -> None:
    """Sixty series of hourly bars (LocalStore packs several into each block,
    and the blocks end mid-universe) read as each series alone."""
    nodes = [f"batch:h{i:02d}" for i in range(60)]
    hours = np.arange(BASE, BASE + 2 * DAY, HOUR)
    for i, node in enumerate(nodes):
        store.write(node, "1h", BASE, BASE + 2 * DAY, frame(hours[i % 7 :], float(i)))
    h1 = parse_interval("1h")
    got = read_bars_many(store, nodes[::-1], h1, BASE + HOUR, BASE + 2 * DAY)
    for node in nodes:
        assert_same_bars(
            _bars_frame(got[node]), store.read(node, "1h", BASE + HOUR, BASE + 2 * DAY)
        )


def test_checksums_verified_off_thread_fail_in_row_order(store_factory: StoreFactory) -> None:
    """Forty series, so their checksums are verified in groups on other threads:
    the error is still the first failing check in row order (a checksum
    before a later chunk that passes its checksum but cannot be read)."""
    if store_factory.kind != "local":
        pytest.skip("damages a LocalStore file")
    from seamless_sdk.stores._checksum import chunk_crc, series_seed

    store = store_factory.open()
    nodes = [f"batch:o{i:02d}" for i in range(40)]
    hours = np.arange(BASE, BASE + DAY, HOUR)
    for node in nodes:
        store.write(node, "1h", BASE, BASE + DAY, frame(hours))
    path: Path = store.path  # type: ignore[attr-defined]
    store.close()
    _raw(path, "UPDATE chunks SET crc = crc + 1 WHERE node_id = ?", (nodes[20],))
    conn = sqlite3.connect(path)
    blob = conn.execute("SELECT data FROM chunks WHERE node_id = ?", (nodes[30],)).fetchone()[0]
    conn.close()
    short = blob[:-64]  # a truncated chunk under a checksum of its own: it passes, then fails
    crc = chunk_crc(series_seed(nodes[30], HOUR), BASE, 24, short)
    _raw(path, "UPDATE chunks SET data = ?, crc = ? WHERE node_id = ?", (short, crc, nodes[30]))
    store = store_factory.open()
    h1 = parse_interval("1h")
    with pytest.raises(StoreCorruptedError) as info:
        read_bars_many(store, nodes, h1, BASE, BASE + DAY)
    assert (info.value.node_id, info.value.reason) == (nodes[20], "checksum mismatch")
    with pytest.raises(StoreCorruptedError) as later:
        read_bars_many(store, nodes[21:], h1, BASE, BASE + DAY)
    with pytest.raises(StoreCorruptedError) as alone:
        store.read(nodes[30], "1h", BASE, BASE + DAY)
    assert later.value.node_id == nodes[30] and str(later.value) == str(alone.value)
    ok = [n for n in nodes if n not in (nodes[20], nodes[30])]
    got = read_bars_many(store, ok, h1, BASE, BASE + DAY)
    assert all(len(got[n]) == 24 for n in ok)
