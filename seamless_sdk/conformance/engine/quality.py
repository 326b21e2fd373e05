"""Quality rules for OHLCV bars: named, vectorised, counted.

Each rule marks the rows that break it. The rules run on every sample
before the roll-up and again on the rolled-up bars: a bar is rejected when
it, or any sample it was made from, breaks a rule, so a bad sample cannot
hide inside a good-looking bar (a negative volume summed away, a NaN open
in the middle of a minute). A row is counted once per rule it breaks; a
bar is rejected once.

| rule | a row breaks it when |
| --- | --- |
| ``high_lt_max_open_close`` | high < max(open, close) |
| ``low_gt_min_open_close`` | low > min(open, close) |
| ``negative_volume`` | volume < 0 |
| ``nan_price`` | open, high, low or close is NaN |
| ``nan_volume`` | volume is NaN |
| ``inf_value`` | any of open, high, low, close, volume is ±inf |

Comparisons with NaN are false, so a NaN row is counted under ``nan_*`` only.
Samples that pass every rule roll up into a bar that passes them too (high
is a max of highs, each above its own open and close; and so on); the
second pass only catches a volume sum overflowing to inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUALITY_RULES: tuple[str, ...] = (
    "high_lt_max_open_close",
    "low_gt_min_open_close",
    "negative_volume",
    "nan_price",
    "nan_volume",
    "inf_value",
)
"""Names of the quality rules, in the order they are evaluated and reported."""


@dataclass(frozen=True)
class QualityOutcome:
    """Per-rule counts and the mask of rows that broke at least one rule."""

    counts: dict[str, int]
    bad: np.ndarray | None
    """Boolean mask over the rows, or None when every row passed."""

    @property
    def rejected(self) -> int:
        return 0 if self.bad is None else int(np.count_nonzero(self.bad))


def check_quality(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> QualityOutcome:
    """Evaluate every rule over aligned float64 arrays (one element per row)."""
    with np.errstate(invalid="ignore"):
        hi_oc = np.maximum(open_, close)
        lo_oc = np.minimum(open_, close)
        prices_nan = np.isnan(open_) | np.isnan(high) | np.isnan(low) | np.isnan(close)
        masks = (
            high < hi_oc,
            low > lo_oc,
            volume < 0,
            prices_nan,
            np.isnan(volume),
            np.isinf(open_) | np.isinf(high) | np.isinf(low) | np.isinf(close) | np.isinf(volume),
        )
    counts = {name: int(np.count_nonzero(m)) for name, m in zip(QUALITY_RULES, masks, strict=True)}
    if not any(counts.values()):
        return QualityOutcome(counts, None)
    bad = np.logical_or.reduce(masks)
    return QualityOutcome(counts, bad)


def combine_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Per-rule counts of two passes added together."""
    return {name: a.get(name, 0) + b.get(name, 0) for name in QUALITY_RULES}
