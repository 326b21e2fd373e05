"""Which gaps a read fills while it waits and which it leaves to the background.

A pure function of the strategy, the gaps and ``max_sync_gap_bars``, so the
rule has one home and a table-driven test (``tests/unit/test_gaps.py``).

>>> split_gaps(Strategy.SEAMLESS, RangeSet([(0, 600), (3600, 90_000)]), 60, 1440).sync
RangeSet([(0, 600)])
"""

from __future__ import annotations

from dataclasses import dataclass

from seamless_sdk.ranges import RangeSet
from seamless_sdk.strategy import Strategy


@dataclass(frozen=True, slots=True)
class GapSplit:
    """``sync`` gaps are filled while the read waits, ``detached`` ones in the
    background; ``downgraded`` are the detached SEAMLESS gaps that were too large
    to wait for, as ``(start, end, bars)``."""

    sync: RangeSet
    detached: RangeSet
    downgraded: tuple[tuple[int, int, int], ...] = ()


def split_gaps(
    strategy: Strategy, gaps: RangeSet, bar_seconds: int, max_sync_gap_bars: int | None
) -> GapSplit:
    """Split the fillable ``gaps`` of a read by its strategy.

    AUTO_BACKFILL waits for every gap, PARTIAL_FILL for none, FAIL_FAST fills
    nothing. SEAMLESS waits for gaps of at most ``max_sync_gap_bars`` bars
    (``None``: every gap) and detaches larger ones.
    """
    if strategy is Strategy.FAIL_FAST:
        return GapSplit(RangeSet(), RangeSet())
    if strategy is Strategy.AUTO_BACKFILL:
        return GapSplit(gaps, RangeSet())
    if strategy is Strategy.PARTIAL_FILL:
        return GapSplit(RangeSet(), gaps)
    if max_sync_gap_bars is None:
        return GapSplit(gaps, RangeSet())
    small: list[tuple[int, int]] = []
    large: list[tuple[int, int, int]] = []
    for start, end in gaps:
        bars = (end - start) // bar_seconds
        if bars <= max_sync_gap_bars:
            small.append((start, end))
        else:
            large.append((start, end, bars))
    return GapSplit(RangeSet(small), RangeSet((s, e) for s, e, _ in large), tuple(large))
