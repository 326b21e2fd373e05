"""The backfill request table on PostgreSQL (dedup layer 1 across hosts).

The same behaviours as the SQLite table (``tests/unit/assets/test_request_table.py``)
run on both back-ends here, then the reason the PostgreSQL one exists:
processes that share no file, racing to submit the same windows, create
each row once.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from seamless_sdk.backfill.dagster import (
    AnyRequestTable,
    DagsterBackfiller,
    PostgresRequestTable,
    RequestTable,
    open_request_table,
)
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

YEAR_2024 = (1_704_067_200, 1_735_689_600)
YEAR_2025 = (1_735_689_600, 1_767_225_600)
POLICY = FillPolicy()
STRICT_ONCE = FillPolicy(partial_ok=False, max_attempts=1, retry_backoff_ms=0.0)
PARTIAL_RETRY = FillPolicy(partial_ok=True, max_attempts=5, retry_backoff_ms=50.0, jitter_ratio=0.0)
PROCESSES = 6
ROUNDS = 4

Opener = Callable[[], AnyRequestTable]


@pytest.fixture(params=["sqlite", "postgres"])
def open_table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the request table of this test, on either back-end."""
    if request.param == "sqlite":
        yield lambda: open_request_table(tmp_path / "r.sqlite")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        yield lambda: open_request_table(tmp_path / "unused.sqlite", dsn=dsn)


def test_a_dsn_selects_postgres_and_no_dsn_sqlite(postgres_dsn: str, tmp_path: Path) -> None:
    table = open_request_table(tmp_path / "pg.sqlite", dsn=postgres_dsn)
    assert isinstance(table, PostgresRequestTable)
    table.close()
    assert not (tmp_path / "pg.sqlite").exists(), "a DSN means no SQLite file"
    table = open_request_table(tmp_path / "r.sqlite")
    assert isinstance(table, RequestTable) and (tmp_path / "r.sqlite").exists()
    table.close()


def test_submit_creates_joins_revives_and_compares_the_attempt(open_table: Opener) -> None:
    table = open_table()
    (first,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=STRICT_ONCE)
    (joined,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=PARTIAL_RETRY)
    assert first.created and not joined.created
    assert joined.request.id == first.request.id
    assert joined.request.policy == STRICT_ONCE, "a joined row keeps the first policy"
    assert first.request.run_key == f"seamless-request-{first.request.id}-0"
    assert table.transition(first.request, "launched", "run-1")
    (seen,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    assert not seen.created and seen.request.run_id == "run-1"
    assert table.transition(seen.request, "done", "run-1")
    (revived,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=PARTIAL_RETRY)
    assert revived.created and revived.request.attempt == 1
    assert revived.request.state == "pending" and revived.request.run_id is None
    assert revived.request.policy == PARTIAL_RETRY
    assert not table.transition(first.request, "launched", "stale"), "old attempt"
    assert table.get(first.request.id).state == "pending"  # type: ignore[union-attr]
    assert table.get(10_000) is None
    table.close()


def test_requests_lists_rows_in_states_oldest_first(open_table: Opener) -> None:
    table = open_table()
    table.submit("a", "1h", [YEAR_2024], policy=POLICY)
    table.submit("b", "1d", [YEAR_2024, YEAR_2025], policy=POLICY, state="launched")
    (c,) = table.submit("c", "1h", [YEAR_2024], policy=POLICY)
    table.transition(c.request, "failed", None)
    assert [(r.node_id, r.state) for r in table.requests()] == [
        ("a", "pending"),
        ("b", "launched"),
        ("b", "launched"),
    ]
    assert [r.node_id for r in table.requests(("failed",))] == ["c"]
    assert len(table.requests(limit=1)) == 1
    assert str(table.requests(("pending",))[0].partition) == "a|2024"
    table.close()


def test_bad_arguments_reach_no_sql(open_table: Opener) -> None:
    table = open_table()
    with pytest.raises(InvalidRequestError) as info:
        table.submit("demo:BTC", "1h", [YEAR_2024], policy={"max_attempts": 1})  # type: ignore[arg-type]
    assert info.value.field == "policy"
    with pytest.raises(InvalidRequestError) as info:
        table.submit("x'; DROP TABLE backfill_requests; --", "1h", [YEAR_2024], policy=POLICY)
    assert info.value.field == "node_id"
    with pytest.raises(InvalidRequestError):
        table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY, state="done")  # type: ignore[arg-type]
    assert table.requests() == []
    table.close()


def test_a_closed_postgres_table_raises_a_store_error(postgres_dsn: str) -> None:
    table = PostgresRequestTable(postgres_dsn)
    table.close()
    with pytest.raises(StoreError):
        table.requests()
    with pytest.raises(InvalidRequestError):
        PostgresRequestTable("  ")
    with pytest.raises(InvalidRequestError) as info:
        open_request_table()
    assert info.value.field == "requests_path"


def _race(dsn: str, barrier: mp.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """One "host": its own connection, no file in common with the others.

    Every round submits one node's two windows through a DagsterBackfiller
    whose coordinator names the database (what a configured host does)."""
    from seamless_sdk.coordination.postgres import PostgresCoordinator

    coordinator = PostgresCoordinator(dsn)
    backfiller = DagsterBackfiller(coordinator=coordinator)
    try:
        for i in range(ROUNDS):
            barrier.wait(timeout=60)
            ranges = RangeSet([(YEAR_2024[0], YEAR_2025[1])])
            ticket = backfiller.request(f"demo:R{i}", parse_interval("1h"), ranges, policy=POLICY)
            out.put((i, ticket.requested.total(), ticket.attached.total()))
    finally:
        backfiller.close()
        coordinator.close()


def test_processes_racing_for_the_same_windows_create_each_row_once(postgres_dsn: str) -> None:
    """Six processes (sharing only the database) ask for the same two windows
    at the same moment, four rounds: each window is created once and joined
    five times."""
    PostgresRequestTable(postgres_dsn).close()  # the table exists before the race
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(postgres_dsn, barrier, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        results = [out.get(timeout=120) for _ in range(PROCESSES * ROUNDS)]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in procs)
    both = YEAR_2025[1] - YEAR_2024[0]
    for i in range(ROUNDS):
        # Every window was created by one process and joined by all the others
        # (which process created which window is the race's choice).
        assert [req for r, req, _ in results if r == i] == [both] * PROCESSES
        assert sum(att for r, _, att in results if r == i) == both * (PROCESSES - 1)
    table = PostgresRequestTable(postgres_dsn)
    rows = table.requests()
    table.close()
    assert len(rows) == 2 * ROUNDS
    assert len({(r.node_id, r.window_start) for r in rows}) == 2 * ROUNDS
    assert {r.attempt for r in rows} == {0}


def _sql(table: AnyRequestTable, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Read or change rows behind the table's back (``?`` placeholders), on either back-end."""
    if isinstance(table, PostgresRequestTable):
        with table._pool.connection() as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    with table._lock:
        cur = table._conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("interval", "7q", "interval"),
        ("node_id", "demo B|x", "node_id"),
        ("window_start", YEAR_2025[0] + 3600, "window_start"),
        ("fill_policy", "not json", "fill_policy"),
        ("fill_policy", '{"seamless/fill.max_attempts": "-3"}', "max_attempts"),
    ],
)
def test_a_malformed_row_is_failed_and_the_others_still_served(
    open_table: Opener, column: str, value: object, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    # One such row made the request sensor raise on every tick, and the
    # healthy rows beside it were never launched.
    table = open_table()
    try:
        (good,) = table.submit("demo:A", "1h", [YEAR_2024], policy=POLICY)
        (bad,) = table.submit("demo:B", "1h", [YEAR_2025], policy=POLICY)
        bad_id = bad.request.id
        _sql(table, f"UPDATE backfill_requests SET {column} = ? WHERE id = ?", (value, bad_id))
        with caplog.at_level("WARNING"):
            assert [r.id for r in table.requests()] == [good.request.id]
        assert "malformed and was marked failed" in caplog.text and says in caplog.text
        assert [r.id for r in table.requests()] == [good.request.id]  # for good
        state = _sql(table, "SELECT state FROM backfill_requests WHERE id = ?", (bad_id,))
        assert state == [("failed",)]
    finally:
        table.close()
