"""The quality stage: every rule over one window's bars, with the policy's severities.

Structural rules (the table in ``spec/rules.py``, run by ``quality.py``) run on
every sample and on every bar, and always reject (a bad sample cannot hide
inside a good-looking bar).
Statistical rules (``anomalies.py``) then run on the bars that are left, in
time order: ``block`` rejects the bars they hit, ``warn`` only marks them
``suspect`` (the pipeline flags them ``SUSPECT``), ``off`` skips the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seamless_sdk.conformance.engine.anomalies import STATISTICAL_RULES, evaluate
from seamless_sdk.conformance.engine.quality import check_quality, combine_counts
from seamless_sdk.conformance.engine.rollup import BarArrays, RollupOutcome
from seamless_sdk.conformance.spec.modes import Policy


@dataclass(frozen=True)
class Verdict:
    """Counts per rule and what to do with which bar (masks over the bars, or None)."""

    counts: dict[str, int]
    rejected: np.ndarray | None
    suspect: np.ndarray | None


def judge(bars: BarArrays, rolled: RollupOutcome | None, policy: Policy) -> Verdict:
    """Apply every rule to ``bars`` (and, if they were rolled up, their samples)."""
    counts, bad = _structural(bars, rolled)
    rest = np.flatnonzero(~bad) if bad is not None else None
    close = bars.close if rest is None else bars.close[rest]
    volume = bars.volume if rest is None else bars.volume[rest]
    suspect: np.ndarray | None = None
    for rule in STATISTICAL_RULES:
        severity = policy.severity(rule)
        if severity == "off":
            counts[rule] = 0
            continue
        hit = evaluate(rule, close, volume, policy.rules[rule].params)
        counts[rule] = int(np.count_nonzero(hit))
        if not counts[rule]:
            continue
        full = np.zeros(len(bars), dtype=bool)
        full[rest if rest is not None else slice(None)] = hit
        if severity == "block":
            bad = full if bad is None else bad | full
        else:
            suspect = full if suspect is None else suspect | full
    if suspect is not None and bad is not None:
        suspect &= ~bad  # a bar that is removed is not also "kept but suspect"
    return Verdict(counts, bad, suspect if suspect is not None and suspect.any() else None)


def _structural(
    bars: BarArrays, rolled: RollupOutcome | None
) -> tuple[dict[str, int], np.ndarray | None]:
    """Rule counts and the mask of structurally bad bars (None if none)."""
    if rolled is None or rolled.rolled_up == 0:
        outcome = check_quality(*_values(bars))  # every bar is its own single sample
        return dict(outcome.counts), outcome.bad
    per_sample = check_quality(*_values(rolled.samples))
    bad = np.zeros(len(bars), dtype=bool)
    if per_sample.bad is not None:
        bad[rolled.bar_index[per_sample.bad]] = True
    rest = np.flatnonzero(~bad)
    per_bar = check_quality(*_values(bars.take(rest)))
    if per_bar.bad is not None:
        bad[rest[per_bar.bad]] = True
    counts = combine_counts(per_sample.counts, per_bar.counts)
    return counts, (bad if bad.any() else None)


def _values(a: BarArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return a.open, a.high, a.low, a.close, a.volume
