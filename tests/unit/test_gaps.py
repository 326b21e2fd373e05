"""Which gaps a read waits for: ``split_gaps`` as a table."""

from __future__ import annotations

import pytest

from seamless_sdk.gaps import GapSplit, split_gaps
from seamless_sdk.ranges import RangeSet
from seamless_sdk.strategy import Strategy

M = 60
SMALL = (0, 10 * M)  # 10 bars
EXACT = (3600, 3600 + 20 * M)  # 20 bars: at the limit, still waited for
LARGE = (86_400, 86_400 + 21 * M)  # 21 bars: one over
GAPS = RangeSet([SMALL, EXACT, LARGE])
NONE = RangeSet()

CASES = [
    # strategy, max_sync_gap_bars, sync, detached, downgraded
    pytest.param(Strategy.FAIL_FAST, 20, NONE, NONE, (), id="fail-fast-fills-nothing"),
    pytest.param(Strategy.AUTO_BACKFILL, 20, GAPS, NONE, (), id="auto-waits-for-all"),
    pytest.param(Strategy.AUTO_BACKFILL, 0, GAPS, NONE, (), id="auto-ignores-the-limit"),
    pytest.param(Strategy.PARTIAL_FILL, 20, NONE, GAPS, (), id="partial-detaches-all"),
    pytest.param(
        Strategy.SEAMLESS,
        20,
        RangeSet([SMALL, EXACT]),
        RangeSet([LARGE]),
        ((*LARGE, 21),),
        id="seamless-limit-is-inclusive",
    ),
    pytest.param(Strategy.SEAMLESS, None, GAPS, NONE, (), id="seamless-no-limit"),
    pytest.param(
        Strategy.SEAMLESS,
        0,
        NONE,
        GAPS,
        ((*SMALL, 10), (*EXACT, 20), (*LARGE, 21)),
        id="seamless-zero-detaches-all",
    ),
]


@pytest.mark.parametrize(("strategy", "limit", "sync", "detached", "downgraded"), CASES)
def test_split_gaps(
    strategy: Strategy,
    limit: int | None,
    sync: RangeSet,
    detached: RangeSet,
    downgraded: tuple[tuple[int, int, int], ...],
) -> None:
    assert split_gaps(strategy, GAPS, M, limit) == GapSplit(sync, detached, downgraded)


def test_no_gaps_no_work() -> None:
    for strategy in Strategy:
        split = split_gaps(strategy, RangeSet(), M, 5)
        assert not split.sync and not split.detached and not split.downgraded
