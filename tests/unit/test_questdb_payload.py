"""QuestDBStore without a server: the ILP bytes it sends, the re-send of a failed
flush, the SQL it runs and the order it runs things in.

The payload tests build rows into a real ``questdb`` client ``Buffer`` (ILP
protocol version 1, the text protocol QuestDB 7.4 speaks) and compare its
bytes; the store tests replace the server by a fake that answers the store's
queries and records every query and flush, so the order of events (bars
applied before coverage is sent) is asserted, not assumed.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import ts_from_seconds
from seamless_sdk.errors import InvalidRequestError, StoreCorruptedError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _questdb_sql as sql
from seamless_sdk.stores._arrow import Columns
from seamless_sdk.stores._questdb_ilp import (
    IlpWriter,
    TableBatch,
    bars_frame,
    coverage_frame,
    fill_buffer,
    tombstone_frame,
)
from seamless_sdk.stores._questdb_plan import check_bounds, coverage_rows, plan_series
from seamless_sdk.stores.base import BarStore, WindowWrite
from seamless_sdk.stores.questdb import QuestDBStore

questdb = pytest.importorskip("questdb", reason="the questdb client (the [questdb] extra)")

M1 = parse_interval("1m")
DAY = 86_400
BASE = 1_700_006_400  # a UTC midnight
NS = 1_000_000_000


def _buffer() -> Any:
    # questdb 6 moved Buffer's documented home to a deprecated module; the
    # class is the one Sender.new_buffer() returns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from questdb.ingress import Buffer
    return Buffer(protocol_version=1)


def _frame(ts: list[int], price: float = 10.0) -> pd.DataFrame:
    n = len(ts)
    o = np.full(n, float(price)) + np.arange(n)
    return pd.DataFrame(
        {
            "ts": ts_from_seconds(np.array(ts, dtype=np.int64)),
            "open": o,
            "high": o + 1.5,
            "low": o - 0.25,
            "close": o + 0.5,
            "volume": np.full(n, 3.0),
            "flags": np.arange(n, dtype=np.int32),
        }
    )


# -- ILP payload ----------------------------------------------------------------
def test_bar_rows_serialise_to_the_expected_ilp_lines() -> None:
    ts_ns = np.array([BASE, BASE + 60], dtype=np.int64) * NS
    values = [np.array([1.5, 2.0]), np.array([2.0, 3.0]), np.array([1.0, 1.5]),
              np.array([1.75, 2.5]), np.array([0.1, 0.0])]  # fmt: skip
    frame = bars_frame("demo:BTC-1.x_y", ts_ns, values, np.array([0, 5], dtype=np.int32))
    text = bytes(fill_buffer(_buffer(), TableBatch("seamless_bars_1m", (frame,)))).decode()
    assert text == (
        "seamless_bars_1m,node=demo:BTC-1.x_y open=1.5,high=2.0,low=1.0,close=1.75,"
        f"volume=0.1,flags=0i,gone=f {BASE * NS}\n"
        "seamless_bars_1m,node=demo:BTC-1.x_y open=2.0,high=3.0,low=1.5,close=2.5,"
        f"volume=0.0,flags=5i,gone=f {(BASE + 60) * NS}\n"
    )


def test_tombstones_carry_no_values_and_coverage_rows_carry_their_chunk() -> None:
    dead = tombstone_frame("demo:A", np.array([BASE + 120], dtype=np.int64) * NS)
    cov = coverage_frame([("demo:A", 60, BASE, f"{BASE}-{BASE + DAY}")])
    buf = fill_buffer(_buffer(), TableBatch("t_bars_1m", (dead,)))
    fill_buffer(buf, TableBatch("t_coverage", (cov,)))
    assert bytes(buf).decode() == (
        f"t_bars_1m,node=demo:A gone=t {(BASE + 120) * NS}\n"
        f't_coverage,node=demo:A interval_s=60i,ranges="{BASE}-{BASE + DAY}" {BASE * NS}\n'
    )


def test_floats_are_written_with_round_trip_precision() -> None:
    rng = np.random.default_rng(7)
    vals = np.concatenate([rng.random(200) * 1e5, rng.lognormal(0, 8, 200)])
    ts_ns = (BASE + 60 * np.arange(len(vals))) * NS
    frame = bars_frame("n", ts_ns, [vals] * 5, np.zeros(len(vals), np.int32))
    lines = bytes(fill_buffer(_buffer(), TableBatch("t", (frame,)))).decode().splitlines()
    parsed = [float(re.search(r" open=([^,]+),", line).group(1)) for line in lines]  # type: ignore[union-attr]
    assert np.array_equal(np.array(parsed), vals)


def test_a_batch_is_cut_into_transactions_of_at_most_max_rows() -> None:
    frames = tuple(tombstone_frame("n", (BASE + 60 * np.arange(k)) * NS) for k in (5, 3, 4))
    pieces = TableBatch("t", frames).pieces(max_rows=4)
    assert [p.rows for p in pieces] == [4, 4, 4]
    joined = pd.concat([f for p in pieces for f in p.frames])
    assert joined["ts"].tolist() == pd.concat(frames)["ts"].tolist()
    assert TableBatch("t", frames).pieces(max_rows=12)[0].frames == frames


# -- re-send after a failed flush ----------------------------------------------------
class FakeSender:
    """Records the bytes of every flush; the first ``fail`` flushes raise the
    way the client does (the caller's buffer is what it was)."""

    def __init__(self, log: list[Any], fail: int) -> None:
        self.log = log
        self.fail = fail
        self.closed = False

    def new_buffer(self) -> Any:
        return _buffer()

    def flush(self, buffer: Any, transactional: bool = False) -> None:
        assert transactional
        payload = bytes(buffer)
        if len(self.log) < self.fail:
            self.log.append(("failed", payload))
            raise questdb.QuestDBError(questdb.QuestDBErrorCode.SocketError, "connection reset")
        self.log.append(("sent", payload))

    def close(self) -> None:
        self.closed = True


def _writer(fail: int, attempts: int = 3) -> tuple[IlpWriter, list[Any], list[FakeSender]]:
    log: list[Any] = []
    senders: list[FakeSender] = []

    def factory(conf: str) -> FakeSender:
        assert conf == "http::addr=x:1;"
        senders.append(FakeSender(log, fail))
        return senders[-1]

    writer = IlpWriter("http::addr=x:1;", attempts=attempts, backoff_s=0.0, sender_factory=factory)
    return writer, log, senders


def test_a_flush_that_fails_once_is_resent_whole_on_a_new_sender() -> None:
    writer, log, senders = _writer(fail=1)
    batch = TableBatch("t", (tombstone_frame("n", np.array([BASE, BASE + 60]) * NS),))
    writer.send(batch)
    assert [kind for kind, _ in log] == ["failed", "sent"]
    assert log[0][1] == log[1][1] and log[1][1].count(b"\n") == 2
    assert len(senders) == 2 and senders[0].closed and not senders[1].closed
    assert writer.flushes == 1


def test_a_flush_failing_every_attempt_raises_store_error() -> None:
    writer, log, _ = _writer(fail=10, attempts=3)
    with pytest.raises(StoreError, match="failed 3 times: connection reset"):
        writer.send(TableBatch("t", (tombstone_frame("n", np.array([BASE]) * NS),)))
    assert len(log) == 3 and writer.flushes == 0


# -- SQL ------------------------------------------------------------------------------
def test_ddl_makes_deduplicated_wal_tables() -> None:
    ddl = sql.bars_ddl("seamless", M1)
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS seamless_bars_1m (")
    assert ddl.endswith("TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, node)")
    assert "PARTITION BY MONTH" in sql.bars_ddl("p", parse_interval("1h"))
    assert "PARTITION BY YEAR" in sql.bars_ddl("p", parse_interval("1d"))
    assert sql.coverage_ddl("p").endswith("WAL DEDUP UPSERT KEYS(ts, node, interval_s)")


def test_queries_bind_every_value() -> None:
    for text in (
        sql.read_sql("p", M1),
        sql.live_ts_sql("p", M1),
        sql.count_sql("p", M1),
        sql.coverage_sql("p", windowed=True),
    ):
        assert "'" not in text
    assert sql.read_sql("p", M1) == (
        "SELECT cast(ts AS LONG), open, high, low, close, volume, flags FROM p_bars_1m "
        "WHERE node = %s AND ts >= %s AND ts < %s AND NOT gone ORDER BY ts"
    )
    assert sql.coverage_sql("p", windowed=False).count("%s") == 2
    assert sql.coverage_sql("p", windowed=True).count("%s") == 4


def test_timestamps_are_bound_as_naive_utc() -> None:
    value = sql.ts_param(BASE + 61)
    assert value.tzinfo is None
    assert value == datetime(2023, 11, 15, 0, 1, 1)


@pytest.mark.parametrize("prefix", ["", "Seamless", "a-b", "a;drop", "1abc", "x" * 41, None])
def test_bad_table_prefixes_are_refused(prefix: Any) -> None:
    with pytest.raises(InvalidRequestError, match=r"^table_prefix: "):
        sql.check_prefix(prefix)


def test_coverage_text_round_trips_and_damage_is_named() -> None:
    ranges = RangeSet([(BASE, BASE + 600), (BASE + 1200, BASE + DAY)])
    text = sql.encode_ranges(ranges)
    assert text == f"{BASE}-{BASE + 600},{BASE + 1200}-{BASE + DAY}"
    assert sql.decode_ranges(text, "n", M1, BASE) == ranges
    assert sql.decode_ranges("", "n", M1, BASE) == RangeSet()
    for bad in ("x", f"{BASE}-{BASE + 2 * DAY}", f"{BASE + 30}-{BASE + 60}", f"{BASE}-{BASE}", 5):
        with pytest.raises(StoreCorruptedError):
            sql.decode_ranges(bad, "n", M1, BASE)


# -- planning a write -----------------------------------------------------------
def _cols(frame: pd.DataFrame) -> Columns:
    from seamless_sdk.stores._arrow import columns_from_frame

    return columns_from_frame(frame, 60, BASE, BASE + DAY)


def test_plan_tombstones_stored_bars_the_new_frame_lacks() -> None:
    new = _frame([BASE, BASE + 120])
    stored = np.array([BASE, BASE + 60, BASE + 120, BASE + DAY + 60], dtype=np.int64) * NS
    plan = plan_series(
        "n", M1, [(BASE, BASE + DAY, RangeSet.span(BASE, BASE + DAY), _cols(new))], {}, stored
    )
    assert plan.tombstones.tolist() == [(BASE + 60) * NS]  # the next day's bar is not touched
    assert plan.rows.ts.tolist() == [BASE * NS, (BASE + 120) * NS]
    assert plan.added == RangeSet.span(BASE, BASE + DAY)
    assert coverage_rows("n", M1, {}, add=plan.added) == [("n", 60, BASE, f"{BASE}-{BASE + DAY}")]


def test_plan_of_a_repeated_write_sends_no_coverage() -> None:
    cover = RangeSet.span(BASE, BASE + DAY)
    new = _frame([BASE])
    plan = plan_series("n", M1, [(BASE, BASE + DAY, cover, _cols(new))], {BASE: cover},
                       np.array([BASE * NS]))  # fmt: skip
    assert coverage_rows("n", M1, {BASE: cover}, add=plan.added) == []
    assert len(plan.tombstones) == 0


def test_plan_later_items_replace_earlier_ones_in_their_window() -> None:
    first = (BASE, BASE + DAY, RangeSet.span(BASE, BASE + DAY), _cols(_frame([BASE, BASE + 60])))
    second = (BASE, BASE + 3600, RangeSet.span(BASE, BASE + 3600), _cols(_frame([BASE + 120], 50)))
    plan = plan_series("n", M1, [first, second], {}, np.zeros(0, np.int64))
    assert plan.rows.ts.tolist() == [(BASE + 120) * NS]
    assert plan.rows.values[0].tolist() == [50.0]


def test_coverage_rows_change_only_the_chunks_that_change() -> None:
    day2 = BASE + DAY
    stored = {BASE: RangeSet.span(BASE, BASE + 3600), day2: RangeSet.span(day2, day2 + DAY)}
    # An hour added to the first day's chunk, across nothing else.
    assert coverage_rows("n", M1, stored, add=RangeSet.span(BASE + 3600, BASE + 7200)) == [
        ("n", 60, BASE, f"{BASE}-{BASE + 7200}")
    ]
    # Removing across both chunks rewrites both; a chunk left empty gets "".
    assert coverage_rows("n", M1, stored, remove=RangeSet.span(BASE, day2 + 60)) == [
        ("n", 60, BASE, ""),
        ("n", 60, day2, f"{day2 + 60}-{day2 + DAY}"),
    ]
    # A window over two chunks adds a row to each.
    rows = coverage_rows("n", M1, {}, add=RangeSet.span(BASE + DAY - 60, day2 + 60))
    assert rows == [
        ("n", 60, BASE, f"{BASE + DAY - 60}-{day2}"),
        ("n", 60, day2, f"{day2}-{day2 + 60}"),
    ]


def test_plan_refuses_rows_outside_coverage() -> None:
    item = (BASE, BASE + DAY, RangeSet.span(BASE, BASE + 60), _cols(_frame([BASE + 60])))
    with pytest.raises(StoreError, match="outside coverage"):
        plan_series("n", M1, [item], {}, np.zeros(0, np.int64))


def test_bounds_before_1970_or_misaligned_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"^start: -60 is before 1970"):
        check_bounds(M1, -60, 60)
    with pytest.raises(InvalidRequestError, match=r"^end: 61 is not aligned"):
        check_bounds(M1, 0, 61)
    with pytest.raises(InvalidRequestError, match=r"^start: "):
        check_bounds(M1, True, 60)
    assert check_bounds(M1, np.int64(0), 120) == (0, 120)


# -- the store against a fake server ----------------------------------------------------
class FakeServer:
    """Answers QuestDBStore's queries from what it was sent over ILP and logs
    every event. A table's WAL is applied ``lag`` polls after a flush."""

    def __init__(self, lag: int = 2, count_bias: int = 0) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.lag = lag
        self.count_bias = count_bias
        self.pending: dict[str, int] = {}
        self.txn: dict[str, int] = {}
        self.coverage: dict[tuple[str, int, int], str] = {}
        self.bars: dict[tuple[str, str, int], bool] = {}  # (table, node, ts_us) -> live

    # the PgConnection side
    def query(self, text: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        for p in params:
            assert not isinstance(p, datetime) or p.tzinfo is None
        self.events.append(("query", text.split(" FROM ")[0][:30], *params[:1]))
        if text.startswith("CREATE"):
            return []
        if text == sql.WAL_SQL:
            table = params[0]
            if self.pending.get(table, 0) > 0:
                self.pending[table] -= 1
                applied = self.txn[table] - 1
            else:
                applied = self.txn.get(table, 0)
            self.events.append(("wal", table, applied, self.txn.get(table, 0)))
            return [(applied, self.txn.get(table, 0), False)]
        if text.startswith("SELECT DISTINCT"):
            return sorted({(n, i) for (n, i, _), r in self.coverage.items() if r})
        us = [int((p - datetime(1970, 1, 1)).total_seconds()) * 1_000_000
              for p in params if isinstance(p, datetime)]  # fmt: skip
        if "ranges" in text:
            node, iv = params[0], params[1]
            lo, hi = us if len(params) == 4 else (0, 1 << 62)
            return [
                (cs * 1_000_000, r)
                for (n, i, cs), r in sorted(self.coverage.items())
                if n == node and i == iv and lo <= cs * 1_000_000 < hi
            ]
        table = re.search(r" FROM (\w+)", text).group(1)  # type: ignore[union-attr]
        live = [
            t for (b, n, t), ok in sorted(self.bars.items()) if ok and (b, n) == (table, params[0])
        ]
        live = [t for t in live if us[0] <= t < us[1]]
        if text.startswith("SELECT count()"):
            return [(len(live) + self.count_bias,)]
        if text.startswith("SELECT cast(ts AS LONG) FROM"):
            return [(t,) for t in live]
        return [(t, 1.0, 2.0, 0.5, 1.5, 1.0, 0) for t in live]

    @property
    def closed(self) -> bool:
        return False

    def close(self) -> None:
        pass

    # the sender side
    def sender(self, conf: str) -> Any:
        server = self

        class Sender:
            def new_buffer(self) -> Any:
                return _buffer()

            def flush(self, buffer: Any, transactional: bool = False) -> None:
                lines = bytes(buffer).decode().splitlines()
                table = lines[0].split(",")[0]
                server.events.append(("flush", table, len(lines)))
                for line in lines:
                    head, fields, ts = line.rsplit(" ", 2)
                    node = head.split("node=")[1]
                    if table.endswith("_coverage"):
                        iv = int(re.search(r"interval_s=(\d+)i", fields).group(1))  # type: ignore[union-attr]
                        text = fields.split('ranges="')[1].rstrip('"')
                        server.coverage[(node, iv, int(ts) // NS)] = text
                    else:
                        server.bars[(table, node, int(ts) // 1000)] = "gone=f" in fields
                server.txn[table] = server.txn.get(table, 0) + 1
                server.pending[table] = server.lag

            def close(self) -> None:
                pass

        return Sender()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[QuestDBStore, FakeServer]]:
    server = FakeServer()
    store = QuestDBStore(
        "http::addr=fake:1;",
        "postgresql://fake/qdb",
        table_prefix="t",
        lock_dir=tmp_path / "locks",
        sender_factory=server.sender,
    )
    store._pg = server  # type: ignore[assignment]
    yield store, server
    store.close()


def test_the_store_is_a_bar_store_and_connects_only_when_used(tmp_path: Path) -> None:
    store = QuestDBStore("http::addr=127.0.0.1:1;", "postgresql://127.0.0.1:1/qdb",
                         lock_dir=tmp_path)  # fmt: skip
    assert isinstance(store, BarStore)
    with pytest.raises(StoreError, match="cannot connect"):
        store.coverage("demo:A", "1m")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.read("demo:A", "1m", BASE, BASE + 60)


@pytest.mark.parametrize(
    ("ilp", "dsn", "field"),
    [("tcp::addr=x:9009;", "postgresql://x/qdb", "ilp_conf"), ("http::addr=x:1;", "", "pg_dsn")],
)
def test_bad_configuration_is_refused(ilp: str, dsn: str, field: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"^{field}: "):
        QuestDBStore(ilp, dsn)


def test_coverage_is_sent_only_after_the_bars_are_applied(
    fake: tuple[QuestDBStore, FakeServer],
) -> None:
    store, server = fake
    store.write("demo:A", M1, BASE, BASE + DAY, _frame([BASE, BASE + 60]))
    flushes = [e for e in server.events if e[0] == "flush"]
    assert flushes == [("flush", "t_bars_1m", 2), ("flush", "t_coverage", 1)]
    bars_at = server.events.index(flushes[0])
    cov_at = server.events.index(flushes[1])
    waits = [e for e in server.events[bars_at:cov_at] if e[0] == "wal"]
    assert len(waits) == 3 and waits[-1][2] == waits[-1][3]  # polled until applied
    assert any(e[1] == "SELECT count()" for e in server.events[bars_at:cov_at])
    assert store.coverage("demo:A", M1) == RangeSet.span(BASE, BASE + DAY)


def test_a_count_mismatch_marks_no_coverage(fake: tuple[QuestDBStore, FakeServer]) -> None:
    store, server = fake
    server.count_bias = 1
    with pytest.raises(StoreError, match="coverage was not marked"):
        store.write("demo:A", M1, BASE, BASE + DAY, _frame([BASE]))
    assert [e[1] for e in server.events if e[0] == "flush"] == ["t_bars_1m"]
    assert server.coverage == {}


def test_reads_return_only_bars_inside_coverage(fake: tuple[QuestDBStore, FakeServer]) -> None:
    store, server = fake
    store.write("demo:A", M1, BASE, BASE + 3600, _frame([BASE, BASE + 60]))
    server.bars[("t_bars_1m", "demo:A", (BASE + 7200) * 1_000_000)] = (
        True  # a bar no coverage vouches for
    )
    got = store.read("demo:A", M1, BASE, BASE + DAY)
    assert got["ts"].tolist() == list(ts_from_seconds(np.array([BASE, BASE + 60])))
    assert list(got.columns) == ["ts", "open", "high", "low", "close", "volume", "flags"]
    assert store.read("demo:B", M1, BASE, BASE + DAY).empty


def test_remove_coverage_removes_coverage_before_the_bars(
    fake: tuple[QuestDBStore, FakeServer],
) -> None:
    store, server = fake
    store.write("demo:A", M1, BASE, BASE + DAY, _frame([BASE, BASE + 60]))
    server.events.clear()
    store.remove_coverage("demo:A", M1, RangeSet.span(BASE, BASE + 3600))
    assert [e[1] for e in server.events if e[0] == "flush"] == ["t_coverage", "t_bars_1m"]
    assert store.coverage("demo:A", M1) == RangeSet.span(BASE + 3600, BASE + DAY)
    assert not any(server.bars.values())


def test_write_many_sends_one_coverage_transaction(fake: tuple[QuestDBStore, FakeServer]) -> None:
    store, server = fake
    store.write_many(
        [
            WindowWrite("demo:A", "1m", BASE, BASE + DAY, _frame([BASE])),
            WindowWrite("demo:B", "1m", BASE, BASE + DAY, _frame([BASE + 60])),
            WindowWrite("demo:A", "1h", BASE, BASE + 7200, _frame([BASE + 3600])),
        ]
    )
    flushes = [(e[1], e[2]) for e in server.events if e[0] == "flush"]
    assert flushes == [("t_bars_1m", 2), ("t_bars_1h", 1), ("t_coverage", 3)]
    assert store.series() == [("demo:A", "1m"), ("demo:A", "1h"), ("demo:B", "1m")]


@pytest.mark.parametrize("node_id", ["a b", "x'; DROP TABLE t_bars_1m; --", "a\n", ""])
def test_bad_node_ids_never_reach_sql(fake: tuple[QuestDBStore, FakeServer], node_id: str) -> None:
    store, server = fake
    for call in (
        lambda: store.read(node_id, M1, BASE, BASE + 60),
        lambda: store.coverage(node_id, M1),
        lambda: store.write(node_id, M1, BASE, BASE + 60, _frame([BASE])),
        lambda: store.remove_coverage(node_id, M1, RangeSet.span(BASE, BASE + 60)),
    ):
        with pytest.raises(InvalidRequestError, match=r"^node_id: "):
            call()
    assert server.events == []


def test_window_lock_excludes_a_second_holder(fake: tuple[QuestDBStore, FakeServer]) -> None:
    store, _ = fake
    with store.window_lock("demo:A", M1, BASE):
        with (
            pytest.raises(StoreError, match="not acquired"),
            store.window_lock("demo:A", M1, BASE, timeout=0.05),
        ):
            pass
        with store.window_lock("demo:A", M1, BASE + DAY, timeout=0.05):
            pass
    with (
        pytest.raises(InvalidRequestError, match=r"^chunk_start: "),
        store.window_lock("demo:A", M1, BASE + 60),
    ):
        pass


def test_a_pickled_store_shares_the_original_locks(tmp_path: Path) -> None:
    import pickle

    store = QuestDBStore("http::addr=x:1;", "postgresql://x/qdb", table_prefix="p",
                         lock_dir=tmp_path)  # fmt: skip
    copy = pickle.loads(pickle.dumps(store))
    try:
        assert copy.table_prefix == "p"
        with (
            store.window_lock("demo:A", M1, BASE),
            pytest.raises(StoreError, match="not acquired"),
            copy.window_lock("demo:A", M1, BASE, timeout=0.05),
        ):
            pass
    finally:
        store.close()
        copy.close()


def test_a_store_with_a_custom_sender_does_not_pickle(
    fake: tuple[QuestDBStore, FakeServer],
) -> None:
    import pickle

    with pytest.raises(TypeError, match="custom sender_factory"):
        pickle.dumps(fake[0])


def test_a_write_plans_only_after_earlier_transactions_are_applied(
    fake: tuple[QuestDBStore, FakeServer],
) -> None:
    store, server = fake
    # A killed write's transaction: committed, not yet applied for two polls.
    server.txn["t_bars_1m"], server.pending["t_bars_1m"] = 1, 2
    server.bars[("t_bars_1m", "demo:A", (BASE + 60) * 1_000_000)] = True
    store.write("demo:A", M1, BASE, BASE + DAY, _frame([]))
    kinds = [(e[0], e[1]) for e in server.events]
    first_live = kinds.index(("query", "SELECT cast(ts AS LONG)"))
    polls = [e for e in server.events[:first_live] if e[0] == "wal" and e[1] == "t_bars_1m"]
    assert polls and polls[-1][2] == polls[-1][3] == 1  # applied before the plan read
    assert not any(server.bars.values())  # so the killed write's bar was tombstoned
    assert store.read("demo:A", M1, BASE, BASE + DAY).empty
