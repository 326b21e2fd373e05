"""The backfill request table: serialization point 1 of the Dagster backfiller."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest

from seamless_sdk.backfill.dagster import RequestTable, run_tags_for_request
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import InvalidRequestError

YEAR_2024 = (1_704_067_200, 1_735_689_600)
POLICY = FillPolicy()
STRICT_ONCE = FillPolicy(partial_ok=False, max_attempts=1, retry_backoff_ms=0.0)
PARTIAL_RETRY = FillPolicy(partial_ok=True, max_attempts=5, retry_backoff_ms=50.0, jitter_ratio=0.0)


def test_first_submit_creates_and_later_ones_join(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    first = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    again = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    assert [s.created for s in first] == [True]
    assert [s.created for s in again] == [False]
    assert first[0].request.id == again[0].request.id
    assert first[0].request.state == "pending"
    assert first[0].request.run_key == f"seamless-request-{first[0].request.id}-0"
    table.close()


def test_finished_rows_are_revived_with_a_new_attempt(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    (sub,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    assert table.transition(sub.request, "launched", "run-1")
    (joined,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    assert not joined.created and joined.request.run_id == "run-1"
    assert table.transition(joined.request, "done", "run-1")
    (revived,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)
    assert revived.created
    assert revived.request.attempt == 1 and revived.request.state == "pending"
    assert revived.request.run_id is None
    # A stale transition (the old attempt) no longer applies.
    assert not table.transition(sub.request, "launched", "run-stale")
    assert table.get(sub.request.id).state == "pending"  # type: ignore[union-attr]
    table.close()


def test_requests_lists_open_rows_oldest_first(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    table.submit("a", "1h", [YEAR_2024], policy=POLICY)
    table.submit("b", "1d", [YEAR_2024], policy=POLICY)
    (c,) = table.submit("c", "1h", [YEAR_2024], policy=POLICY)
    table.transition(c.request, "failed", None)
    assert [r.node_id for r in table.requests()] == ["a", "b"]
    assert [r.node_id for r in table.requests(("failed",))] == ["c"]
    table.close()


def _submit(path: str, barrier: mp.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    table = RequestTable(path)
    barrier.wait()
    out.put([s.created for s in table.submit("demo:BTC", "1h", [YEAR_2024], policy=POLICY)])
    table.close()


def test_concurrent_processes_create_exactly_one_row(tmp_path: Path) -> None:
    """Eight processes submit the same window at the same moment: one creates it."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(8), ctx.Queue()
    procs = [
        ctx.Process(target=_submit, args=(str(tmp_path / "r.sqlite"), barrier, out))
        for _ in range(8)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(results) == [[False]] * 7 + [[True]]
    table = RequestTable(tmp_path / "r.sqlite")
    assert len(table.requests()) == 1
    table.close()


def test_the_policy_is_stored_with_the_row_and_tags_its_run(tmp_path: Path) -> None:
    """The first request's policy serves a window while it is open; a revived
    row takes the policy of the request that revived it."""
    table = RequestTable(tmp_path / "r.sqlite")
    (first,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=STRICT_ONCE)
    (joined,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=PARTIAL_RETRY)
    assert first.request.policy == STRICT_ONCE
    assert not joined.created and joined.request.policy == STRICT_ONCE
    tags = run_tags_for_request(joined.request)
    assert FillPolicy.from_tags(tags, default=PARTIAL_RETRY) == STRICT_ONCE
    assert tags["dagster/partition"] == "demo:BTC|2024"

    table.transition(joined.request, "done", "run-1")
    (revived,) = table.submit("demo:BTC", "1h", [YEAR_2024], policy=PARTIAL_RETRY)
    assert revived.created and revived.request.policy == PARTIAL_RETRY
    table.close()
    reopened = RequestTable(tmp_path / "r.sqlite")
    assert [r.policy for r in reopened.requests()] == [PARTIAL_RETRY]
    reopened.close()


def test_submit_without_a_fill_policy_is_refused(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    with pytest.raises(InvalidRequestError) as info:
        table.submit("demo:BTC", "1h", [YEAR_2024], policy={"max_attempts": 1})  # type: ignore[arg-type]
    assert info.value.field == "policy"
    assert table.requests() == []
    table.close()


def _old_table(path: Path) -> None:
    """A request table as the first release made it (no fill_policy column) with
    one pending row: today's table with the column dropped again."""
    RequestTable(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE backfill_requests DROP COLUMN fill_policy")
        conn.execute(
            "INSERT INTO backfill_requests (node_id, interval, window_start, window_end, "
            "state, attempt, requested_at, updated_at) "
            "VALUES ('demo:OLD', '1h', ?, ?, 'pending', 0, 1.0, 1.0)",
            YEAR_2024,
        )
    conn.close()


def _open_old(path: str, barrier: mp.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    barrier.wait()
    table = RequestTable(path)
    out.put([r.node_id for r in table.requests()])
    table.close()


def test_an_old_table_gains_the_policy_column_once_even_when_opened_at_once(
    tmp_path: Path,
) -> None:
    """A table made before policies were stored is migrated on open; its rows
    carry no policy (their runs get no policy tags, so the location's default
    applies). Four processes open it at the same moment: one adds the column."""
    path = tmp_path / "old.sqlite"
    _old_table(path)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_open_old, args=(str(path), barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [["demo:OLD"]] * 4
    table = RequestTable(path)
    (old,) = table.requests()
    assert old.policy is None
    assert not any(k.startswith("seamless/fill.") for k in run_tags_for_request(old))
    (new,) = table.submit("demo:NEW", "1h", [YEAR_2024], policy=STRICT_ONCE)
    assert new.request.policy == STRICT_ONCE
    table.close()
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(backfill_requests)")]
    conn.close()
    assert columns.count("fill_policy") == 1
