"""QuestDBStore against a real QuestDB server (7.4 or later).

Runs only when ``SEAMLESS_QUESTDB_HTTP`` (an ILP/HTTP configuration string,
e.g. ``http::addr=localhost:9000;``) and ``SEAMLESS_QUESTDB_PG`` (a libpq URI,
e.g. ``postgresql://admin:quest@localhost:8812/qdb``) are set; docs/questdb.md
says how to run a local server. Every test writes under its own table prefix
and drops its tables afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import pickle
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import ts_from_seconds
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores._questdb_ilp import TableBatch, bars_frame
from seamless_sdk.stores.base import WindowWrite
from seamless_sdk.stores.questdb import QuestDBStore

HTTP = os.environ.get("SEAMLESS_QUESTDB_HTTP")
PG = os.environ.get("SEAMLESS_QUESTDB_PG")
pytestmark = pytest.mark.skipif(
    not (HTTP and PG),
    reason="set SEAMLESS_QUESTDB_HTTP and SEAMLESS_QUESTDB_PG to run against a QuestDB server",
)

M1 = parse_interval("1m")
DAY = 86_400
BASE = 1_700_006_400  # a UTC midnight
NS = 1_000_000_000


def _frame(ts: np.ndarray | list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = np.asarray(ts, dtype=np.int64)
    n = len(ts)
    o = rng.lognormal(3, 2, n)  # awkward doubles: every bit must come back
    c = o * rng.uniform(0.9, 1.1, n)
    return pd.DataFrame(
        {
            "ts": ts_from_seconds(ts),
            "open": o,
            "high": np.maximum(o, c) * 1.01,
            "low": np.minimum(o, c) * 0.99,
            "close": c,
            "volume": rng.random(n) * 1e6,
            "flags": rng.integers(0, 1 << 20, n).astype(np.int32),
        }
    )


def _day(start: int = BASE, step: int = 60) -> np.ndarray:
    return np.arange(start, start + DAY, step, dtype=np.int64)


def _raw(pg: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with pg.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture
def pg() -> Iterator[Any]:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:  # type: ignore[arg-type]
        yield conn


@pytest.fixture
def prefix(pg: Any) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    for (table,) in _raw(
        pg, "SELECT table_name FROM tables() WHERE table_name LIKE %s", f"{name}_%"
    ):
        pg.execute(f"DROP TABLE IF EXISTS {table}")


@pytest.fixture
def store(prefix: str, tmp_path: Any) -> Iterator[QuestDBStore]:
    with QuestDBStore(HTTP, PG, table_prefix=prefix, lock_dir=tmp_path) as s:  # type: ignore[arg-type]
        yield s


def _rows_stored(pg: Any, prefix: str, node: str, *, live_only: bool = False) -> int:
    where = " AND NOT gone" if live_only else ""
    return _raw(pg, f"SELECT count() FROM {prefix}_bars_1m WHERE node = %s{where}", node)[0][0]


def test_round_trip_is_exact_and_reads_cut_the_window(store: QuestDBStore) -> None:
    frame = _frame(_day())
    store.write("demo:BTC", M1, BASE, BASE + DAY, frame)
    pd.testing.assert_frame_equal(store.read("demo:BTC", M1, BASE, BASE + DAY), frame)
    part = store.read("demo:BTC", M1, BASE + 600, BASE + 1200)
    pd.testing.assert_frame_equal(part, frame.iloc[10:20].reset_index(drop=True))
    assert store.coverage("demo:BTC", M1) == RangeSet.span(BASE, BASE + DAY)
    assert store.series() == [("demo:BTC", "1m")]


def test_replace_deletes_bars_the_new_frame_lacks_and_rewrites_are_idempotent(
    store: QuestDBStore, pg: Any, prefix: str
) -> None:
    store.write("demo:A", M1, BASE, BASE + DAY, _frame(_day()))
    fewer = _frame(_day()[::3], seed=1)
    store.write("demo:A", M1, BASE, BASE + DAY, fewer)
    pd.testing.assert_frame_equal(store.read("demo:A", M1, BASE, BASE + DAY), fewer)
    store.write("demo:A", M1, BASE, BASE + DAY, fewer)
    pd.testing.assert_frame_equal(store.read("demo:A", M1, BASE, BASE + DAY), fewer)
    # One row per ts (dedup), of which only the new frame's are live.
    assert _rows_stored(pg, prefix, "demo:A") == 1440
    assert _rows_stored(pg, prefix, "demo:A", live_only=True) == 480


def test_an_empty_window_is_covered_and_a_partial_one_keeps_its_neighbours(
    store: QuestDBStore,
) -> None:
    store.write("demo:A", M1, BASE, BASE + DAY, _frame(_day()))
    store.write("demo:A", M1, BASE + 3600, BASE + 7200, _frame([]))
    got = store.read("demo:A", M1, BASE, BASE + DAY)
    assert len(got) == 1440 - 60
    assert not ((got["ts"] >= ts_from_seconds(np.array([BASE + 3600]))[0])
                & (got["ts"] < ts_from_seconds(np.array([BASE + 7200]))[0])).any()  # fmt: skip
    store.write("demo:B", M1, BASE, BASE + DAY, _frame([]))
    assert store.coverage("demo:B", M1) == RangeSet.span(BASE, BASE + DAY)
    assert store.read("demo:B", M1, BASE, BASE + DAY).empty


def test_a_resent_killed_write_duplicates_nothing(
    store: QuestDBStore, pg: Any, prefix: str
) -> None:
    frame = _frame(_day())
    cols = (frame["ts"].array.asi8, [frame[c].to_numpy() for c in frame.columns[1:6]])
    batch = TableBatch(f"{prefix}_bars_1m", (bars_frame("demo:A", *cols, frame["flags"]),))
    store.coverage("demo:A", M1)  # creates the tables
    # A write killed after its bars reached QuestDB but before coverage: the
    # bars are stored, yet no reader returns them.
    store._ilp.send(batch)
    store._wait_applied(f"{prefix}_bars_1m")
    assert store.read("demo:A", M1, BASE, BASE + DAY).empty
    assert store.coverage("demo:A", M1) == RangeSet()
    # The batch arrives again (a client re-send), then the whole write is re-run.
    store._ilp.send(batch)
    store.write("demo:A", M1, BASE, BASE + DAY, frame)
    assert _rows_stored(pg, prefix, "demo:A") == 1440
    pd.testing.assert_frame_equal(store.read("demo:A", M1, BASE, BASE + DAY), frame)


def test_a_flush_whose_answer_is_lost_is_resent_without_duplicates(
    prefix: str, pg: Any, tmp_path: Any
) -> None:
    from seamless_sdk.stores._questdb_ilp import default_sender

    lost: list[int] = []

    class LosesFirstAnswer:
        """A real sender whose first flush reaches QuestDB, then fails as if
        the connection dropped before the answer came back."""

        def __init__(self, conf: str) -> None:
            self._real = default_sender(conf)

        def new_buffer(self) -> Any:
            return self._real.new_buffer()

        def flush(self, buffer: Any, transactional: bool = False) -> None:
            self._real.flush(buffer, clear=False, transactional=transactional)
            if not lost:
                lost.append(len(bytes(buffer)))
                raise ConnectionResetError("the answer was lost")

        def close(self) -> None:
            self._real.close()

    frame = _frame(_day())
    with QuestDBStore(HTTP, PG, table_prefix=prefix, lock_dir=tmp_path,  # type: ignore[arg-type]
                      sender_factory=LosesFirstAnswer) as store:  # fmt: skip
        store.write("demo:A", M1, BASE, BASE + DAY, frame)
        pd.testing.assert_frame_equal(store.read("demo:A", M1, BASE, BASE + DAY), frame)
    assert lost  # the first flush did fail after reaching the server
    assert _rows_stored(pg, prefix, "demo:A") == 1440


def test_remove_coverage_hides_then_deletes_the_bars(
    store: QuestDBStore, pg: Any, prefix: str
) -> None:
    store.write("demo:A", M1, BASE, BASE + DAY, _frame(_day()))
    store.remove_coverage("demo:A", M1, RangeSet([(BASE, BASE + 3600), (BASE + 7200, BASE + 7260)]))
    assert store.coverage("demo:A", M1) == RangeSet(
        [(BASE + 3600, BASE + 7200), (BASE + 7260, BASE + DAY)]
    )
    assert len(store.read("demo:A", M1, BASE, BASE + DAY)) == 1440 - 61
    assert _rows_stored(pg, prefix, "demo:A", live_only=True) == 1440 - 61
    store.remove_coverage("demo:A", M1, RangeSet.span(BASE, BASE + DAY))
    assert store.series() == []


def test_write_many_covers_every_window_and_interval(store: QuestDBStore) -> None:
    h1 = parse_interval("1h")
    store.write_many(
        [
            WindowWrite("demo:A", M1, BASE, BASE + DAY, _frame(_day())),
            WindowWrite("demo:A", M1, BASE + DAY, BASE + 2 * DAY, _frame(_day(BASE + DAY))),
            WindowWrite("demo:A", h1, BASE, BASE + DAY, _frame(_day(step=3600))),
            WindowWrite("demo:B", M1, BASE, BASE + 60, _frame([BASE])),
        ]
    )
    assert store.coverage("demo:A", M1) == RangeSet.span(BASE, BASE + 2 * DAY)
    assert len(store.read("demo:A", M1, BASE, BASE + 2 * DAY)) == 2880
    assert len(store.read("demo:A", h1, BASE, BASE + DAY)) == 24
    assert store.series() == [("demo:A", "1m"), ("demo:A", "1h"), ("demo:B", "1m")]


def test_bad_input_is_refused_before_anything_is_sent(
    store: QuestDBStore, pg: Any, prefix: str
) -> None:
    store.write("demo:A", M1, BASE, BASE + DAY, _frame(_day()))
    for node in ("x'; DROP TABLE " + prefix + "_bars_1m; --", "a b", "a\n"):
        with pytest.raises(InvalidRequestError, match=r"^node_id: "):
            store.write(node, M1, BASE, BASE + 60, _frame([BASE]))
        with pytest.raises(InvalidRequestError, match=r"^node_id: "):
            store.read(node, M1, BASE, BASE + 60)
    with pytest.raises(InvalidRequestError, match=r"^start: .*before 1970"):
        store.write("demo:A", M1, -DAY, 0, _frame([-60]))
    with pytest.raises(StoreError, match="outside coverage"):
        store.write(
            "demo:C", M1, BASE, BASE + 120, _frame([BASE + 60]), RangeSet.span(BASE, BASE + 60)
        )
    assert _rows_stored(pg, prefix, "demo:A", live_only=True) == 1440
    assert store.coverage("demo:C", M1) == RangeSet()


def test_a_concurrent_reader_sees_whole_windows_only(prefix: str, tmp_path: Any) -> None:
    days = 6
    errors: list[str] = []
    reads: list[int] = []
    done = threading.Event()

    def reader() -> None:
        with QuestDBStore(HTTP, PG, table_prefix=prefix, lock_dir=tmp_path) as r:  # type: ignore[arg-type]
            while not done.is_set():
                got = r.read("demo:A", M1, BASE, BASE + days * DAY)
                reads.append(len(got))
                cov = r.coverage("demo:A", M1)
                ts = got["ts"].array.asi8 // NS
                # Every returned bar is covered, and each covered day was read whole.
                for d in range(days):
                    n = int(((ts >= BASE + d * DAY) & (ts < BASE + (d + 1) * DAY)).sum())
                    if n not in (0, 1440):
                        errors.append(f"day {d}: {n} bars")
                if len(ts) and not all(cov.covers(int(t), int(t) + 60) for t in ts[::97]):
                    errors.append("a bar outside coverage")

    with QuestDBStore(HTTP, PG, table_prefix=prefix, lock_dir=tmp_path) as writer:  # type: ignore[arg-type]
        writer.coverage("demo:A", M1)
        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for d in range(days):
                start = BASE + d * DAY
                writer.write("demo:A", M1, start, start + DAY, _frame(_day(start), seed=d))
        finally:
            done.set()
            thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []
    assert len(reads) > 1 and max(reads) > 0  # the reader did overlap the writes


def test_the_store_pickles_and_serves_a_provider(store: QuestDBStore, prefix: str) -> None:
    from seamless_sdk import SeamlessDataProvider, Strategy, SyntheticFetcher

    with SeamlessDataProvider(store=store, fetcher=SyntheticFetcher(seed=3)) as provider:
        first = provider.read("demo:BTC", "1m", BASE, BASE + DAY, strategy=Strategy.AUTO_BACKFILL)
        assert len(first.df) == 1440 and not first.meta.missing
    again = pickle.loads(pickle.dumps(store))
    try:
        with SeamlessDataProvider(store=again, fetcher=None) as provider:
            second = provider.read("demo:BTC", "1m", BASE, BASE + DAY, strategy=Strategy.FAIL_FAST)
        pd.testing.assert_frame_equal(second.df, first.df)
    finally:
        again.close()


def test_a_coverage_lock_lost_while_held_sends_no_coverage(
    prefix: str, tmp_path: Any, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With lock_dsn the per-series coverage lock is an advisory lock; if its
    session ends while held, another writer may hold it now, so the coverage
    rows (a read-modify-write) are not sent: StoreError, the window uncovered."""
    import psycopg

    with QuestDBStore(HTTP, PG, table_prefix=prefix, lock_dir=tmp_path, lock_dsn=postgres_dsn) as s:  # type: ignore[arg-type]
        chunks = s._chunks

        def ended_meanwhile(*args: Any) -> Any:
            with psycopg.connect(postgres_dsn, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'seamless' AND pid <> pg_backend_pid()"
                )
            return chunks(*args)

        monkeypatch.setattr(s, "_chunks", ended_meanwhile)
        with pytest.raises(StoreError, match=r"coverage lock of demo:BTC .* was lost while held"):
            s.write("demo:BTC", M1, BASE, BASE + DAY, _frame(_day()))
        monkeypatch.undo()
        assert s.coverage("demo:BTC", M1) == RangeSet()
        s.write("demo:BTC", M1, BASE, BASE + DAY, _frame(_day()))  # the next write works
        assert s.coverage("demo:BTC", M1) == RangeSet.span(BASE, BASE + DAY)
