"""What PostgresStore adds to the store contract: its SQL read path, its schema,
its connections (pool, reconnect, unreachable server), damage detection and
locks with a timeout. The contract itself is ``test_store_contract.py``."""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from seamless_sdk import PostgresStore
from seamless_sdk.errors import (
    ForeignStoreError,
    StoreCorruptedError,
    StoreError,
    StoreUnavailableError,
)
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores import _pg_sql
from tests.contract.bars import BASE, DAY, HOUR, NODE, frame, minutes
from tests.contract.test_store_contract import assert_same_bars, stored_frames

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def admin(postgres_dsn: str) -> Iterator[Any]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    with PostgresStore(postgres_dsn) as s:
        yield s


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(df=stored_frames())
def test_sql_read_bars_returns_the_very_values(
    store: PostgresStore, admin: Any, df: pd.DataFrame
) -> None:
    store.write(NODE, "1m", BASE, BASE + DAY, df)
    rows = admin.execute(
        "SELECT extract(epoch FROM ts)::bigint, open, high, low, close, volume, flags"
        " FROM seamless.read_bars(%s, '1m', to_timestamp(%s), to_timestamp(%s))",
        (NODE, BASE, BASE + DAY),
        binary=True,
    ).fetchall()
    got = np.array([r[1:6] for r in rows], dtype=np.float64).reshape(-1, 5)
    want = df[["open", "high", "low", "close", "volume"]].to_numpy()
    assert [r[0] for r in rows] == (df["ts"].to_numpy("int64") // 10**9).tolist()
    assert (got.view(np.int64) == want.view(np.int64)).all()  # bit for bit
    assert [r[6] for r in rows] == df["flags"].tolist()


def test_the_bars_view_has_a_row_per_bar(store: PostgresStore, admin: Any) -> None:
    store.write(NODE, "1m", BASE, BASE + 2 * DAY, frame(minutes(BASE, BASE + 2 * DAY)))
    count, first, last = admin.execute(
        "SELECT count(*), min(ts), max(ts) FROM seamless.bars"
        " WHERE node_id = %s AND interval = '1m'",
        (NODE,),
    ).fetchone()
    assert count == 2 * 1440
    assert first == pd.Timestamp(BASE, unit="s", tz="UTC")
    assert last == pd.Timestamp(BASE + 2 * DAY - 60, unit="s", tz="UTC")
    coverage = admin.execute(
        "SELECT range_start, range_end FROM seamless.coverage WHERE node_id = %s", (NODE,)
    ).fetchall()
    assert coverage == [(BASE, BASE + 2 * DAY)]


def test_the_schema_carries_its_version(store: PostgresStore, admin: Any) -> None:
    assert admin.execute(
        "SELECT value FROM seamless.meta WHERE key = 'format_version'"
    ).fetchone() == (str(_pg_sql.FORMAT_VERSION),)
    admin.execute("UPDATE seamless.meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(ForeignStoreError, match="format version '99'"):
        PostgresStore(store_dsn(admin))


def store_dsn(admin: Any) -> str:
    info = admin.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def test_a_foreign_schema_is_refused_and_left_alone(postgres_dsn: str, admin: Any) -> None:
    admin.execute("CREATE SCHEMA theirs")
    admin.execute("CREATE TABLE theirs.orders (id int)")
    with pytest.raises(ForeignStoreError):
        PostgresStore(postgres_dsn, schema="theirs")
    tables = admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'theirs'"
    ).fetchall()
    assert tables == [("orders",)]


def _objects(admin: Any, schema: str) -> list[tuple[str, str]]:
    return sorted(
        admin.execute(
            """SELECT 'rel', c.relname::text FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s
               UNION ALL SELECT 'proc', p.proname::text FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s""",
            {"s": schema},
        ).fetchall()
    )


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE FUNCTION theirs.f() RETURNS int LANGUAGE sql AS 'select 1'",
        "CREATE TYPE theirs.mood AS ENUM ('calm', 'nervous')",
        "CREATE TABLE theirs.meta (a int)",
        "CREATE TABLE theirs.meta (key text, value text, note text)",
    ],
    ids=["function", "enum", "meta-of-others", "meta-with-more"],
)
def test_a_schema_of_other_objects_is_refused_unchanged(
    postgres_dsn: str, admin: Any, ddl: str
) -> None:
    # A function or a type was not counted (the store moved in beside it), and
    # another application's meta table was a plain StoreError from SQL.
    admin.execute("CREATE SCHEMA theirs")
    admin.execute(ddl)
    before = _objects(admin, "theirs")
    with pytest.raises(ForeignStoreError):
        PostgresStore(postgres_dsn, schema="theirs")
    assert _objects(admin, "theirs") == before


def test_a_store_whose_tables_are_gone_is_damaged_not_usable(postgres_dsn: str, admin: Any) -> None:
    # Its meta row said "a store": it opened, then every call failed in SQL.
    PostgresStore(postgres_dsn, schema="half").close()
    admin.execute("DROP TABLE half.coverage, half.chunks CASCADE")
    with pytest.raises(StoreCorruptedError, match="chunks, coverage are missing"):
        PostgresStore(postgres_dsn, schema="half")


@pytest.mark.parametrize(
    "forged",
    [
        (BASE + HOUR, BASE + 2 * DAY),
        (BASE + DAY, BASE + 2 * DAY),
        (BASE + 2 * DAY, BASE + 3 * DAY + 7),
    ],
    ids=["overlapping", "touching", "misaligned"],
)
def test_forged_coverage_rows_are_damage_not_coverage(
    store: PostgresStore, admin: Any, forged: tuple[int, int]
) -> None:
    # Coverage rows written by hand were merged into coverage that vouched for
    # windows no write had filled (and, misaligned, for part of a bar).
    store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY)))
    admin.execute("INSERT INTO seamless.coverage VALUES (%s, 60, %s, %s)", (NODE, *forged))
    calls = [
        lambda: store.coverage(NODE, "1m"),
        lambda: store.coverage_many([NODE], "1m"),
        lambda: store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY))),
    ]
    for call in calls:
        with pytest.raises(StoreCorruptedError, match="coverage row") as info:
            call()
        assert (info.value.node_id, info.value.interval) == (NODE, "1m")
    # What the error advises clears it: the series' coverage removed and filled again.
    store.remove_coverage(NODE, "1m", RangeSet([(BASE, BASE + 4 * DAY)]))
    assert store.coverage(NODE, "1m") == RangeSet()
    store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + DAY)))
    assert store.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])


def test_two_schemas_are_two_stores(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn, schema="a") as a, PostgresStore(postgres_dsn, schema="b") as b:
        a.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + HOUR)))
        assert b.series() == []
        assert a.series() == [(NODE, "1m")]
        with a.window_lock(NODE, "1m", BASE), b.window_lock(NODE, "1m", BASE):
            pass  # lock keys include the schema: no conflict across stores


def test_bad_arguments_are_refused(postgres_dsn: str) -> None:
    for kwargs in (
        {"schema": "Bad-Name"},
        {"schema": 'x"; drop'},
        {"pool_size": 0},
        {"pool_size": 10**6},
    ):
        with pytest.raises(ValueError):
            PostgresStore(postgres_dsn, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PostgresStore("")


def test_an_unreachable_server_is_unavailable_and_the_password_stays_secret() -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dsn = f"postgresql://me:s3cret@127.0.0.1:{port}/db?connect_timeout=2"
    with pytest.raises(StoreUnavailableError) as info:
        PostgresStore(dsn)
    assert "s3cret" not in str(info.value)


def test_the_store_reconnects_after_the_server_drops_it(store: PostgresStore, admin: Any) -> None:
    store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + HOUR)))
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'seamless'"
    )
    assert admin.execute(kill).fetchall()
    assert len(store.read(NODE, "1m", BASE, BASE + DAY)) == 60  # a read retries once
    admin.execute(kill)
    with pytest.raises(StoreUnavailableError):  # a write is not retried...
        store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + 2 * HOUR)))
    # ... but the broken connection is gone and the next call gets a fresh one.
    store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + 2 * HOUR)))
    assert len(store.read(NODE, "1m", BASE, BASE + DAY)) == 120
    assert "password" not in repr(store)


def test_one_call_meets_a_drop_of_every_pooled_connection(postgres_dsn: str, admin: Any) -> None:
    # With several idle connections, the read's retry took the next one from
    # the pool, as dead as the first, and each write failed on one in turn.
    with PostgresStore(postgres_dsn, pool_size=4) as store:
        store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + HOUR)))

        def drop_all() -> None:
            # Four connections lent at once, then idle in the pool (what four
            # reads in parallel leave), then the server drops every session.
            with contextlib.ExitStack() as lent:
                for _ in range(4):
                    lent.enter_context(store._pool.connection())
            kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            dropped = admin.execute(f"{kill} WHERE application_name = 'seamless'").fetchall()
            assert len(dropped) == 4

        drop_all()
        assert len(store.read(NODE, "1m", BASE, BASE + DAY)) == 60  # its one retry is fresh
        drop_all()
        with pytest.raises(StoreUnavailableError):  # a write is not retried...
            store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + 2 * HOUR)))
        # ... and the next one, whichever connection it asks for, is fresh.
        store.write(NODE, "1m", BASE, BASE + DAY, frame(minutes(BASE, BASE + 2 * HOUR)))
        assert len(store.read(NODE, "1m", BASE, BASE + DAY)) == 120


def test_a_window_lock_whose_session_ends_is_not_lost_silently(
    store: PostgresStore, postgres_dsn: str, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The server drops an advisory lock with its session; the holder used to
    leave its block as if it had held the lock throughout."""
    from seamless_sdk.stores._pg import AdvisoryLocks

    locks, others = AdvisoryLocks(postgres_dsn, "test"), AdvisoryLocks(postgres_dsn, "other")
    try:
        with locks.hold(42, None, "test lock") as held:
            held.check()  # alive: nothing to say
            pid = held._conn.info.backend_pid
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(StoreError, match="test lock was lost while held"):
                held.check()
            with others.hold(42, 2, "the same lock"):  # free for another holder now
                pass
    finally:
        locks.close()
        others.close()
    assert "test lock was lost while held" in caplog.text
    with caplog.at_level("WARNING"), store.window_lock(NODE, "1m", BASE):
        pass
    assert caplog.text.count("was lost while held") == 1  # a lock kept says nothing


def test_threads_share_a_bounded_pool(postgres_dsn: str, admin: Any) -> None:
    with PostgresStore(postgres_dsn, pool_size=2) as store:
        want = frame(minutes(BASE, BASE + DAY))
        store.write(NODE, "1m", BASE, BASE + DAY, want)
        errors: list[BaseException] = []

        def reads() -> None:
            try:
                for _ in range(20):
                    assert_same_bars(store.read(NODE, "1m", BASE, BASE + DAY), want)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=reads) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        sessions = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'seamless'"
        ).fetchone()[0]
        assert sessions <= 2


def test_a_pickled_store_opens_the_same_store(store: PostgresStore) -> None:
    store.write(NODE, "1m", BASE, BASE + DAY, frame([]))
    with pickle.loads(pickle.dumps(store)) as copy:
        assert copy.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])


def test_damaged_chunks_are_errors_not_answers(store: PostgresStore, admin: Any) -> None:
    store.write(NODE, "1m", BASE, BASE + 2 * DAY, frame(minutes(BASE, BASE + 2 * DAY)))
    # Swap the first two ts of the second day: sizes and bounds stay right,
    # only the order is wrong.
    data = admin.execute(
        "SELECT data FROM seamless.chunks WHERE chunk_start = %s", (BASE + DAY,)
    ).fetchone()[0]
    damaged = data[8:16] + data[:8] + data[16:]
    admin.execute(
        "UPDATE seamless.chunks SET data = %s WHERE chunk_start = %s", (damaged, BASE + DAY)
    )
    with pytest.raises(StoreCorruptedError) as info:
        store.read(NODE, "1m", BASE, BASE + 2 * DAY)
    assert info.value.chunk_start == BASE + DAY
    with pytest.raises(StoreCorruptedError):  # a partial replace must not keep damaged rows
        store.write(
            NODE, "1m", BASE + DAY, BASE + DAY + HOUR, frame(minutes(BASE + DAY, BASE + DAY + HOUR))
        )
    assert len(store.read(NODE, "1m", BASE, BASE + DAY)) == 1440  # the sound day still reads


def test_a_lock_not_had_in_time_raises(postgres_dsn: str) -> None:
    with PostgresStore(postgres_dsn) as one, PostgresStore(postgres_dsn) as two:
        with one.window_lock(NODE, "1m", BASE):
            for timeout in (0.2, 0.0):
                with pytest.raises(StoreError, match="not acquired"):
                    two.window_lock(NODE, "1m", BASE, timeout=timeout).__enter__()
        with two.window_lock(NODE, "1m", BASE, timeout=5):
            pass


def test_write_many_crossing_series_and_chunks_in_one_transaction(store: PostgresStore) -> None:
    from seamless_sdk.stores.base import WindowWrite

    writes = [
        WindowWrite(
            f"contract:{i}", "1m", BASE, BASE + 3 * DAY, frame(minutes(BASE, BASE + 3 * DAY))
        )
        for i in range(5)
    ]
    store.write_many(writes)
    assert [n for n, _ in store.series()] == [f"contract:{i}" for i in range(5)]
    assert all(len(store.read(w.node_id, "1m", BASE, BASE + 3 * DAY)) == 3 * 1440 for w in writes)


def test_psycopg_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError, match="psycopg"):
        PostgresStore("postgresql://localhost/db")


def test_values_survive_every_interval(store: PostgresStore) -> None:
    for interval, step, span in (("1s", 1, HOUR), ("1h", HOUR, 40 * DAY), ("1d", DAY, 400 * DAY)):
        ts = np.arange(BASE, BASE + span, step, dtype=np.int64)
        df = frame(ts)
        store.write(NODE, interval, BASE, BASE + span, df)
        assert_same_bars(store.read(NODE, interval, BASE, BASE + span), df)


def test_a_provider_reads_through_postgres_store(postgres_dsn: str) -> None:
    from seamless_sdk import SeamlessDataProvider, Strategy, SyntheticFetcher

    with (
        PostgresStore(postgres_dsn) as store,
        SeamlessDataProvider(store=store, fetcher=SyntheticFetcher(seed=3)) as provider,
    ):
        got = provider.read(NODE, "1m", BASE, BASE + DAY, strategy=Strategy.AUTO_BACKFILL)
        assert len(got.df) == 1440
        assert got.meta.missing == RangeSet()
        again = provider.read(NODE, "1m", BASE, BASE + DAY, strategy=Strategy.FAIL_FAST)
        pd.testing.assert_frame_equal(again.df, got.df)
    with PostgresStore(postgres_dsn) as other:  # another host's view of the same store
        assert other.coverage(NODE, "1m") == RangeSet([(BASE, BASE + DAY)])
        assert len(other.read(NODE, "1m", BASE, BASE + DAY)) == 1440
