"""The structural quality stage: the rules table over one window's rows, counted.

The rules themselves (names, columns, predicates, severities) are
``spec/rules.py``'s ``QUALITY_TABLE``; this module only evaluates them. They
run on every sample before the roll-up and again on the rolled-up bars: a
bar is rejected when it, or any sample it was made from, breaks a rule, so a
bad sample cannot hide inside a good-looking bar (a negative volume summed
away, a NaN open in the middle of a minute). A row is counted once per rule
it breaks; a bar is rejected once.

Samples that pass every rule roll up into a bar that passes them too (high
is a max of highs, each above its own open and close; and so on); the
second pass only catches a volume sum overflowing to inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seamless_sdk.bars import VALUE_COLUMNS
from seamless_sdk.conformance.spec.rules import QUALITY_RULES, breaking_rows


@dataclass(frozen=True)
class QualityOutcome:
    """Per-rule counts and the mask of rows that broke at least one rule."""

    counts: dict[str, int]
    bad: np.ndarray | None
    """Boolean mask over the rows, or None when every row passed."""

    @property
    def rejected(self) -> int:
        """Rows that broke at least one rule."""
        return 0 if self.bad is None else int(np.count_nonzero(self.bad))


def check_quality(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> QualityOutcome:
    """Evaluate every rule over aligned float64 arrays (one element per row)."""
    values = (open_, high, low, close, volume)
    masks = breaking_rows(dict(zip(VALUE_COLUMNS, values, strict=True)))
    counts = {name: int(np.count_nonzero(m)) for name, m in masks.items()}
    if not any(counts.values()):
        return QualityOutcome(counts, None)
    return QualityOutcome(counts, np.logical_or.reduce(list(masks.values())))


def combine_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Per-rule counts of two passes added together."""
    return {name: a.get(name, 0) + b.get(name, 0) for name in QUALITY_RULES}
