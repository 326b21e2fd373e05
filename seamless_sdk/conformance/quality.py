"""Quality rules for OHLCV bars: named, vectorised, counted.

Each rule marks the bars that break it. A bar may break several rules and
is counted once per rule; it is rejected once. Rules run on the rolled-up
bars, so a bad sample taints its whole bar (NaN propagates through the
roll-up on purpose: a bar with a NaN sample is not a trustworthy bar).

| rule | a bar breaks it when |
| --- | --- |
| ``high_lt_max_open_close`` | high < max(open, close) |
| ``low_gt_min_open_close`` | low > min(open, close) |
| ``negative_volume`` | volume < 0 |
| ``nan_price`` | open, high, low or close is NaN |
| ``nan_volume`` | volume is NaN |
| ``inf_value`` | any of open, high, low, close, volume is ±inf |

Comparisons with NaN are false, so a NaN bar is counted under ``nan_*`` only.
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
    """Per-rule counts and the mask of bars that broke at least one rule."""

    counts: dict[str, int]
    bad: np.ndarray | None
    """Boolean mask over the bars, or None when every bar passed."""

    @property
    def rejected(self) -> int:
        return 0 if self.bad is None else int(np.count_nonzero(self.bad))


def check_quality(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> QualityOutcome:
    """Evaluate every rule over aligned float64 arrays of one bar each."""
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
