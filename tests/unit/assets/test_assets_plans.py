"""Pure planning of the request and tail sensors."""

from __future__ import annotations

import pytest

from seamless_assets.partitions import contiguous_groups
from seamless_assets.sensors.requests import RunInfo, plan_requests, run_request_for
from seamless_assets.sensors.tail import tail_run_requests, tail_windows
from seamless_sdk.backfill.dagster import BackfillRequest, listed_partitions
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.intervals import parse_interval

H1 = parse_interval("1h")
Y2024 = (1_704_067_200, 1_735_689_600)
Y2025 = (1_735_689_600, 1_767_225_600)
NOW = Y2025[1] + 1000.0  # early 2026: the 2026 window is the last partition
NOW_WINDOW = Y2025[1]


def row(i: int, node: str = "a", window: tuple[int, int] = Y2024, **kw: object) -> BackfillRequest:
    fields = dict(state="pending", attempt=0, run_id=None, requested_at=0.0, updated_at=0.0)
    fields.update(kw)
    return BackfillRequest(i, node, "1h", window[0], window[1], **fields)  # type: ignore[arg-type]


def test_pending_rows_become_one_run_each_with_stable_run_keys() -> None:
    rows = [row(1), row(2, "b"), row(3, window=Y2025)]
    plan = plan_requests(rows, {}, [], ["a"], [H1], Y2024[0], now=NOW)
    assert [r.id for r in plan.launch] == [1, 2, 3]
    assert plan.new_nodes == ["b"]
    request = run_request_for(rows[0])
    assert request.run_key == "seamless-request-1-0"
    assert request.partition_key == "a|2024"
    assert request.tags["seamless/partition"] == "bars_1h|a|2024"
    assert request.tags["seamless/request"] == "1:0"
    assert not any(k.startswith("seamless/fill.") for k in request.tags), "no stored policy"
    policy = FillPolicy(partial_ok=True, max_attempts=1, retry_backoff_ms=0.0)
    tagged = run_request_for(row(4, policy=policy))
    assert FillPolicy.from_tags(tagged.tags, default=FillPolicy()) == policy


def test_rows_with_runs_move_on_instead_of_launching_again() -> None:
    rows = [row(1), row(2, state="launched", run_id="r2"), row(3, state="launched", run_id="r3")]
    runs = {
        "1:0": RunInfo("r1", "QUEUED", {}),
        "r2": RunInfo("r2", "SUCCESS", {}),
        "r3": RunInfo("r3", "FAILURE", {}),
    }
    plan = plan_requests(rows, runs, [], ["a"], [H1], Y2024[0], now=NOW)
    assert plan.launch == []
    assert [(r.id, s, run) for r, s, run in plan.transitions] == [
        (1, "launched", "r1"),
        (2, "done", "r2"),
        (3, "failed", "r3"),
    ]


def test_a_row_joins_a_run_already_filling_its_window() -> None:
    ui_backfill = RunInfo(
        "ui",
        "STARTED",
        {
            "dagster/asset_partition_range_start": "a|2024",
            "dagster/asset_partition_range_end": "b|2025",
        },
        asset="bars_1h",
    )
    plan = plan_requests([row(1, "b")], {}, [ui_backfill], ["a", "b"], [H1], Y2024[0], now=NOW)
    assert plan.launch == []
    assert [(r.id, s, run) for r, s, run in plan.transitions] == [(1, "launched", "ui")]


def test_a_row_joins_a_range_run_only_if_its_config_lists_the_partition() -> None:
    """A range run spans every node between its first and last; one that lists
    its partitions (CLI and tail runs) fills those only. A row for a node in
    between was joined to it and marked done without a bar stored."""
    config = {"ops": {"bars_1h": {"config": {"partitions": ["a|2025", "c|2025"]}}}}
    ranged = RunInfo(
        "tail",
        "STARTED",
        {
            "dagster/asset_partition_range_start": "a|2025",
            "dagster/asset_partition_range_end": "c|2025",
        },
        asset="bars_1h",
        listed=listed_partitions(config),
    )
    rows = [row(1, "b", window=Y2025), row(2, "c", window=Y2025)]
    plan = plan_requests(rows, {}, [ranged], ["a", "b", "c"], [H1], Y2024[0], now=NOW)
    assert [r.id for r in plan.launch] == [1]
    assert [(r.id, s, run) for r, s, run in plan.transitions] == [(2, "launched", "tail")]
    assert listed_partitions({"ops": {"bars_1h": {"config": {}}}}) is None
    assert listed_partitions(None) is None


@pytest.mark.parametrize(
    "bad",
    [
        BackfillRequest(1, "a", "1d", *Y2024, "pending", 0, None, 0.0, 0.0),  # no bars_1d asset
        row(1, window=(1_672_531_200, 1_704_067_200)),  # before the first partition
        # After the last one (the window open now): it was launched, and its run
        # recorded a materialization of a partition the asset does not have.
        row(1, window=(1_798_761_600, 1_830_297_600)),  # 2027
    ],
)
def test_rows_no_partition_can_serve_fail(bad: BackfillRequest) -> None:
    plan = plan_requests([bad], {}, [], ["a"], [H1], Y2024[0], now=NOW)
    assert plan.launch == []
    assert [s for _, s, _ in plan.transitions] == ["failed"]


def test_contiguous_groups_follow_dagster_node_order() -> None:
    order = ["a", "b", "c", "d", "e"]
    assert contiguous_groups(["e", "a", "b", "d"], order) == [["a", "b"], ["d", "e"]]
    assert contiguous_groups(["zz"], order) == []


def test_tail_windows_are_the_newest_with_a_closed_bar() -> None:
    m1 = parse_interval("1m")
    now = 1_761_955_200 + 30  # 2025-11-01T00:00:30: no 1m bar of November is closed yet
    assert tail_windows(m1, 0, 2, now) == [
        (1_756_684_800, 1_759_276_800),
        (1_759_276_800, 1_761_955_200),
    ]
    now = 1_761_955_200 + 120
    assert tail_windows(m1, 0, 2, now) == [
        (1_759_276_800, 1_761_955_200),
        (1_761_955_200, 1_764_547_200),
    ]
    assert tail_windows(m1, 1_761_955_200, 5, now) == [(1_761_955_200, 1_764_547_200)]


def test_tail_run_requests_are_one_range_per_window_listing_its_partitions() -> None:
    """Scattered nodes share one run: the range spans them, the config lists them."""
    plan = {Y2025[0]: ["a", "b", "d"], Y2024[0]: ["c"]}
    single, ranged = tail_run_requests(H1, plan, ["a", "b", "c", "d"], edge=99)
    assert ranged.tags["dagster/asset_partition_range_start"] == "a|2025"
    assert ranged.tags["dagster/asset_partition_range_end"] == "d|2025"
    assert ranged.partition_key is None
    assert ranged.run_config == {
        "ops": {"bars_1h": {"config": {"partitions": ["a|2025", "b|2025", "d|2025"]}}}
    }
    assert single.partition_key == "c|2024"
    assert single.tags["seamless/partition"] == "bars_1h|c|2024"
    assert all(r.job_name == "bars_1h_job" and r.run_key.endswith("|99") for r in (single, ranged))


def test_a_launched_row_whose_run_never_appeared_is_launched_when_stale() -> None:
    fresh = row(1, state="launched", updated_at=NOW - 100)
    stale = row(2, "b", state="launched", updated_at=0.0)
    plan = plan_requests([fresh, stale], {}, [], ["a", "b"], [H1], Y2024[0], now=NOW, stale_s=300)
    assert [r.id for r in plan.launch] == [2]


@pytest.mark.parametrize("per_run", [1, 2, 3, 4, 12])
def test_cli_runs_are_exact_partition_ranges(per_run: int) -> None:
    """Each run of `seamless backfill` is the whole range from its first key to
    its last (consecutive nodes × consecutive windows): a failed run marked
    the nodes between its ends failed, filled or not."""
    from seamless_assets.backfill import run_chunks

    order = ["a", "b", "c", "d", "e"]
    windows = [Y2024[0], Y2025[0], NOW_WINDOW]
    chunks = run_chunks(H1, ["e", "a", "b", "d"], windows, order, per_run)
    keys = [str(k) for chunk in chunks for k in chunk]
    assert sorted(keys) == sorted(f"{n}|{y}" for n in "abde" for y in ("2024", "2025", "2026"))
    for chunk in chunks:
        assert len(chunk) <= per_run
        nodes = sorted({k.node_id for k in chunk}, key=order.index)
        starts = sorted({k.window_start for k in chunk})
        assert order[order.index(nodes[0]) : order.index(nodes[-1]) + 1] == nodes
        assert starts == windows[windows.index(starts[0]) : windows.index(starts[-1]) + 1]
        assert len(chunk) == len(nodes) * len(starts)  # the whole rectangle, no more
        # In order: the run's range is from its first key to its last.
        assert (chunk[0].node_id, chunk[0].window_start) == (nodes[0], starts[0])
        assert (chunk[-1].node_id, chunk[-1].window_start) == (nodes[-1], starts[-1])
    assert run_chunks(H1, ["a"], [], order, per_run) == []
