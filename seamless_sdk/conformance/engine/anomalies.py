"""Statistical quality rules: bars that are possible but suspicious.

Unlike the structural rules (``spec/rules.py``) (a high below the open cannot
be right), these judge a bar against its neighbours, so real markets break
them now and then. Each has a severity in the modes config: ``warn`` (the
default: keep the bar, flag it ``SUSPECT``), ``block`` (remove it like a
structural violation) or ``off``. They run on the rolled-up bars of one
window, after the structurally bad bars are gone.

* ``abnormal_jump`` (parameters ``threshold`` = 16, ``min_returns`` = 20,
  ``min_move`` = 0.01): the robust z-score of the bar's log return,
  ``|r - median| / (1.4826 * MAD)`` over the window, exceeds ``threshold``
  and the move itself exceeds ``min_move`` (a log return).
* ``stale_price`` (parameter ``min_run`` = 30): the bar is in a run of at
  least ``min_run`` consecutive bars with volume > 0 and the same close.

``abnormal_jump`` notes: the median absolute deviation ignores the very
jumps it looks for, unlike a standard deviation. When more than half the
returns are equal (a quiet, tick-bound market) the MAD is 0 and the mean
absolute deviation (times 1.2533, its ratio to sigma for normal data) is
used instead; that scale is tiny in a still market, where one tick would
score high, which is what ``min_move`` is for: a move of less than 1% is
never abnormal, whatever its score. A spike that reverts (a bad tick up,
then back down) gives two large returns of opposite sign; only the first
bar is the jump, so the bar that returns to normal is not flagged. Windows with fewer than
``min_returns`` returns (non-positive prices give none) are not judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

# Declared with the structural rules; re-exported for the callers of this module.
from seamless_sdk.conformance.spec.rules import RULE_PARAMS, STATISTICAL_RULES

__all__ = ["RULE_PARAMS", "STATISTICAL_RULES", "abnormal_jumps", "evaluate", "stale_prices"]

_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533


def abnormal_jumps(
    close: np.ndarray, *, threshold: float, min_returns: int, min_move: float = 0.0
) -> np.ndarray:
    """Boolean mask over bars: the bar's close jumped abnormally from the previous one."""
    n = len(close)
    mask = np.zeros(n, dtype=bool)
    if n < 2 or n - 1 < min_returns:
        return mask
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(np.where(close > 0, close, np.nan))
        r = np.diff(log_close)
    finite = np.isfinite(r)
    if np.count_nonzero(finite) < min_returns:
        return mask
    rf = r[finite] if not finite.all() else r
    median = _median(rf)
    deviation = np.abs(rf - median)
    mad = _median(deviation)
    scale = _MAD_TO_SIGMA * mad if mad > 0 else _MEAN_AD_TO_SIGMA * float(deviation.mean())
    if scale <= 0:
        return mask  # every return is the same: nothing stands out
    with np.errstate(invalid="ignore"):
        distance = np.abs(r - median)
        jump = (distance > threshold * scale) & (distance > min_move)
    if not jump.any():
        return mask
    # The bar after a spike, going back the other way, is the return to normal.
    reverts = jump[1:] & jump[:-1] & (np.sign(r[1:]) != np.sign(r[:-1]))
    jump[1:] &= ~reverts
    mask[1:] = jump
    return mask


def _median(values: np.ndarray) -> float:
    """``np.median`` of a non-empty 1-D array without NaN, by partition: the same
    value (the mean of the middle two for an even count), without ``np.median``'s
    overhead, which is most of a rule's time on a day of bars."""
    n = values.shape[0]
    k = n // 2
    if n % 2:
        return float(np.partition(values, k)[k])
    part = np.partition(values, (k - 1, k))
    return float((part[k - 1] + part[k]) / 2)


def stale_prices(close: np.ndarray, volume: np.ndarray, *, min_run: int) -> np.ndarray:
    """Boolean mask over bars: part of a run of ``min_run`` traded bars with one close."""
    n = len(close)
    mask = np.zeros(n, dtype=bool)
    if n < min_run:
        return mask
    # A bar without volume breaks a run (NaN never equals anything): an
    # unchanged close there is just no trading, which is not suspicious.
    key = np.where(volume > 0, close, np.nan)
    same = key[1:] == key[:-1]
    if np.count_nonzero(same) < min_run - 1:
        return mask  # a run of min_run bars needs min_run - 1 equal neighbours
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    lengths = np.diff(np.append(starts, n))
    long_runs = lengths >= min_run
    if not long_runs.any():
        return mask
    run_of = np.repeat(np.arange(len(starts)), lengths)
    mask = long_runs[run_of] & ~np.isnan(key)
    return mask


def evaluate(
    rule: str, close: np.ndarray, volume: np.ndarray, params: Mapping[str, Any]
) -> np.ndarray:
    """Run one statistical rule by name with its configured parameters."""
    if rule == "abnormal_jump":
        return abnormal_jumps(
            close,
            threshold=float(params["threshold"]),
            min_returns=int(params["min_returns"]),
            min_move=float(params["min_move"]),
        )
    if rule == "stale_price":
        return stale_prices(close, volume, min_run=int(params["min_run"]))
    raise KeyError(rule)
