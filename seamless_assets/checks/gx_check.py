"""The Great Expectations check: the registry's suite run on a stored partition.

It runs inside the materialization like the other bar checks (``specs.py``):
the suite built from the registry schema
(``seamless_assets.checks.expectations``) runs on the window's stored bars
and GX's statistics and one summary per failed expectation go into the
check's metadata. It warns and does not block: the pandera and quality checks
block already. Great Expectations is imported when the check first runs,
never when the code location loads.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from seamless_assets.checks.evaluate import MAX_CASES, CheckOutcome
from seamless_assets.checks.expectations import GXResult, run_suite
from seamless_assets.checks.specs import GX_CHECK


def gx_outcome(frame: pd.DataFrame) -> CheckOutcome:
    """Run the ``ohlcv_bars`` suite on a window's stored bars."""
    return gx_result_outcome(run_suite(frame))


def gx_result_outcome(result: GXResult) -> CheckOutcome:
    """The check outcome of one suite run (``gx_bulk`` runs many windows at once)."""
    return CheckOutcome(
        name=GX_CHECK,
        passed=result.success,
        severity="WARN",
        description=gx_description(result),
        metadata=gx_metadata(result),
    )


def gx_metadata(result: GXResult) -> dict[str, Any]:
    """Check metadata of one suite run: plain JSON-ready values."""
    stats = result.statistics
    return {
        "suite": result.suite,
        "schema_fingerprint": result.schema_fingerprint,
        "rows_checked": result.rows,
        "evaluated_expectations": int(stats.get("evaluated_expectations", 0)),
        "unsuccessful_expectations": int(stats.get("unsuccessful_expectations", 0)),
        "success_percent": float(stats.get("success_percent") or 0.0),
        "failed": [
            {
                k: r[k]
                for k in ("expectation", "rule", "kwargs", "unexpected_count", "partial_unexpected")
            }
            for r in result.failed[:MAX_CASES]
        ],
    }


def gx_description(result: GXResult) -> str:
    """One line for the check result."""
    if result.success:
        return f"{result.rows} bars pass all {len(result.results)} expectations of {result.suite}"
    rules = sorted({str(r["rule"]) for r in result.failed})
    return (
        f"{len(result.failed)} of {len(result.results)} expectations of {result.suite} failed "
        f"({', '.join(rules)})"
    )
