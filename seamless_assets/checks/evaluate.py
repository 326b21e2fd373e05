"""Pure evaluation of the three bar checks for one partition window.

Inputs are plain values (the stored bar frame, the expected bar times of the
node's calendar, the window's coverage, the fill's conformance report), so
the rules are tested without Dagster; ``seamless_assets.assets.partition``
turns each ``CheckOutcome`` into an ``AssetCheckEvaluation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from seamless_assets.checks.specs import COMPLETENESS_CHECK, QUALITY_CHECK, SCHEMA_CHECK
from seamless_sdk.bars import VALUE_COLUMNS, epoch_seconds, iso_utc
from seamless_sdk.conformance import (
    QUALITY_RULES,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    ConformanceReport,
    validate_stored,
)
from seamless_sdk.conformance.engine.quality import check_quality
from seamless_sdk.jsonable import jsonable
from seamless_sdk.ranges import RangeSet

MAX_CASES = 20
"""Failure cases kept in check metadata: enough to see the problem in the UI."""


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One check's verdict on one partition."""

    name: str
    passed: bool
    severity: Literal["ERROR", "WARN"]
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def iso(ts: int | None) -> str | None:
    """Epoch seconds as ``2024-01-01T00:00:00Z`` (None stays None)."""
    return None if ts is None else iso_utc(ts)


def schema_outcome(frame: pd.DataFrame, report: ConformanceReport | None) -> CheckOutcome:
    """The stored frame against ``STORED_SCHEMA``, plus the fill's schema-stage errors."""
    errors, cases = validate_stored(frame)
    fill_errors = list(report.schema_errors) if report is not None else []
    passed = not errors and not fill_errors
    if passed:
        text = f"{len(frame)} stored bars match {SCHEMA_NAME} v{SCHEMA_VERSION}"
    else:
        first = (fill_errors or errors)[0]
        text = f"{len(errors) + len(fill_errors)} schema error(s), first: {first}"
    # The report's failure cases come from the schema and time stages.
    fill_cases = list(report.failure_cases) if report is not None else []
    return CheckOutcome(
        SCHEMA_CHECK,
        passed,
        "ERROR",
        text,
        {
            "schema": f"{SCHEMA_NAME} v{SCHEMA_VERSION}",
            "rows_checked": len(frame),
            "stored_errors": errors[:MAX_CASES],
            "fill_errors": fill_errors[:MAX_CASES],
            "failure_cases": [*cases, *fill_cases][:MAX_CASES],
        },
    )


def quality_outcome(frame: pd.DataFrame, report: ConformanceReport | None) -> CheckOutcome:
    """Quality rules on the stored bars, plus bars the fill rejected for breaking them."""
    outcome = check_quality(*(frame[c].to_numpy(np.float64) for c in VALUE_COLUMNS))
    stored = outcome.counts
    rejected = {r: int((report.rule_violations if report else {}).get(r, 0)) for r in QUALITY_RULES}
    broken = {r: stored[r] + rejected[r] for r in QUALITY_RULES if stored[r] + rejected[r]}
    passed = not broken
    if passed:
        text = f"{len(frame)} stored bars keep every quality rule"
    else:
        text = "quality rules broken: " + ", ".join(f"{r}={n}" for r, n in broken.items())
    cases: list[dict[str, Any]] = []
    if outcome.bad is not None:
        bad = frame.loc[outcome.bad].head(MAX_CASES)
        cases = [
            {"ts": iso(int(t)), **{c: jsonable(float(getattr(row, c))) for c in VALUE_COLUMNS}}
            for t, row in zip(epoch_seconds(bad["ts"]), bad.itertuples(index=False), strict=True)
        ]
    return CheckOutcome(
        QUALITY_CHECK,
        passed,
        "ERROR",
        text,
        {
            "stored_violations": stored,
            "rejected_violations": rejected,
            "rejected_bars": int(report.rejected_bars) if report else 0,
            "failure_cases": cases[:MAX_CASES],
        },
    )


def completeness_outcome(
    stored_ts: np.ndarray,
    expected_ts: np.ndarray,
    start: int,
    end: int,
    covered: RangeSet,
    *,
    strict: bool = False,
) -> CheckOutcome:
    """Stored bars against the calendar's expected bars of ``[start, end)``.

    ``end`` is the window's end clipped at the now edge; ``covered`` the
    store's coverage inside the window. A bar that is expected but not
    stored is missing, whether its range was fetched (the source had no
    trade) or never covered (the fill has not reached it yet).
    """
    expected = np.asarray(expected_ts, dtype=np.int64)
    expected = expected[(expected >= start) & (expected < end)]
    stored = np.asarray(stored_ts, dtype=np.int64)
    present = np.isin(expected, stored, assume_unique=True)
    missing = expected[~present]
    unexpected = int(np.count_nonzero(~np.isin(stored, expected, assume_unique=True)))
    observed = int(np.count_nonzero(present))
    ratio = observed / len(expected) if len(expected) else 1.0
    uncovered = covered.missing(start, end) if start < end else RangeSet()
    first_gap = int(missing[0]) if len(missing) else None
    passed = len(missing) == 0 and unexpected == 0
    problems = []
    if len(missing):
        problems.append(
            f"{len(missing)} of {len(expected)} expected bars missing "
            f"({ratio:.2%} complete), first gap at {iso(first_gap)}"
        )
    if unexpected:
        problems.append(f"{unexpected} stored bars outside the calendar's sessions")
    text = "; ".join(problems) or f"all {len(expected)} expected bars stored"
    return CheckOutcome(
        COMPLETENESS_CHECK,
        passed,
        "ERROR" if strict else "WARN",
        text,
        {
            "expected": len(expected),
            "observed": observed,
            "missing": len(missing),
            "coverage_ratio": float(ratio),
            "first_gap": iso(first_gap) or "none",
            "unexpected_bars": unexpected,
            "uncovered_ranges": [[iso(s), iso(e)] for s, e in uncovered][:MAX_CASES],
            "checked_until": iso(end),
        },
    )
