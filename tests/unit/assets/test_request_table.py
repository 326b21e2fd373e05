"""The backfill request table: serialization point 1 of the Dagster backfiller."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from seamless_sdk.backfill.dagster import RequestTable

YEAR_2024 = (1_704_067_200, 1_735_689_600)


def test_first_submit_creates_and_later_ones_join(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    first = table.submit("demo:BTC", "1h", [YEAR_2024])
    again = table.submit("demo:BTC", "1h", [YEAR_2024])
    assert [s.created for s in first] == [True]
    assert [s.created for s in again] == [False]
    assert first[0].request.id == again[0].request.id
    assert first[0].request.state == "pending"
    assert first[0].request.run_key == f"seamless-request-{first[0].request.id}-0"
    table.close()


def test_finished_rows_are_revived_with_a_new_attempt(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    (sub,) = table.submit("demo:BTC", "1h", [YEAR_2024])
    assert table.transition(sub.request, "launched", "run-1")
    (joined,) = table.submit("demo:BTC", "1h", [YEAR_2024])
    assert not joined.created and joined.request.run_id == "run-1"
    assert table.transition(joined.request, "done", "run-1")
    (revived,) = table.submit("demo:BTC", "1h", [YEAR_2024])
    assert revived.created
    assert revived.request.attempt == 1 and revived.request.state == "pending"
    assert revived.request.run_id is None
    # A stale transition (the old attempt) no longer applies.
    assert not table.transition(sub.request, "launched", "run-stale")
    assert table.get(sub.request.id).state == "pending"  # type: ignore[union-attr]
    table.close()


def test_requests_lists_open_rows_oldest_first(tmp_path: Path) -> None:
    table = RequestTable(tmp_path / "r.sqlite")
    table.submit("a", "1h", [YEAR_2024])
    table.submit("b", "1d", [YEAR_2024])
    (c,) = table.submit("c", "1h", [YEAR_2024])
    table.transition(c.request, "failed", None)
    assert [r.node_id for r in table.requests()] == ["a", "b"]
    assert [r.node_id for r in table.requests(("failed",))] == ["c"]
    table.close()


def _submit(path: str, barrier: mp.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    table = RequestTable(path)
    barrier.wait()
    out.put([s.created for s in table.submit("demo:BTC", "1h", [YEAR_2024])])
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
