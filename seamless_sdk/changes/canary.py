"""Canary backfill: fill partitions with a candidate fetcher into a shadow store and
compare them with the main store before the candidate is rolled out (seed 003 §8.6).

:func:`run_canary` takes the main store (opened read-only by the CLI and the
Dagster job: the canary never writes it), a shadow store of the same layout
in a separate file, the candidate fetcher and the partitions. Per partition
it empties the shadow's window (a canary can be re-run), fills it with the
SDK's own :func:`~seamless_sdk.backfill.fill.fill_window` (fetch, conform,
write, exactly as a real backfill), evaluates the asset checks on both
sides (``checks``: the code location hands in its check functions; the SDK
never imports them) and compares the bars (:mod:`~seamless_sdk.changes.compare`).
The :class:`CanaryReport` sums it up, gives a verdict against the configured
thresholds, and is written as JSON for ``seamless canary promote``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.backfill.fill import fill_window, frame_fingerprint
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import NS, iso_utc
from seamless_sdk.changes.compare import FrameComparison, compare_frames
from seamless_sdk.changes.config import CanarySettings
from seamless_sdk.checks import read_text_file
from seamless_sdk.conformance import ConformanceReport
from seamless_sdk.errors import ConformanceError, FetchError, InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

REPORT_KIND = "seamless.canary"
REPORT_VERSION = 1


class CheckResult(Protocol):
    """What the canary needs of one asset check's outcome (``CheckOutcome`` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def passed(self) -> bool: ...

    @property
    def description(self) -> str: ...


CheckEvaluator = Callable[
    [PartitionKey, pd.DataFrame, RangeSet, "ConformanceReport | None", "float | None"],
    Sequence[CheckResult],
]
"""``(key, stored frame, window coverage, fill report or None, now) -> outcomes``."""


@dataclass(frozen=True)
class PartitionCanary:
    """One partition of a canary: both sides, their comparison and checks."""

    key: PartitionKey
    comparison: FrameComparison
    main_fingerprint: str
    shadow_fingerprint: str
    main_covered_s: int
    shadow_covered_s: int
    checks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    conformance: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    compared_until: int | None = None
    """Bars from here on were not compared: the window's end, or for a window still
    open the earlier of the two sides' coverage ends."""

    @property
    def check_regressions(self) -> list[str]:
        """Checks that pass on the main side and fail on the shadow."""
        return [n for n, c in self.checks.items() if c.get("main") and not c.get("shadow")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        ws, we = self.key.window
        return {
            "partition": str(self.key),
            "node_id": self.key.node_id,
            "window_start": ws,
            "window_end": we,
            "main_fingerprint": self.main_fingerprint,
            "shadow_fingerprint": self.shadow_fingerprint,
            "main_covered_s": self.main_covered_s,
            "shadow_covered_s": self.shadow_covered_s,
            "identical": self.comparison.identical and self.error is None,
            "compared_until": iso_utc(self.compared_until) if self.compared_until else None,
            **self.comparison.to_dict(),
            "checks": {n: dict(c) for n, c in self.checks.items()},
            "check_regressions": self.check_regressions,
            "conformance": dict(self.conformance),
            "error": self.error,
        }


@dataclass(frozen=True)
class CanaryReport:
    """A whole canary run, as the JSON report holds it (``to_dict``/``load``)."""

    data: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        """The verdict against the thresholds."""
        return bool(self.data["verdict"]["passed"])

    @property
    def partitions(self) -> list[Mapping[str, Any]]:
        """One mapping per partition (see :meth:`PartitionCanary.to_dict`)."""
        return list(self.data["partitions"])

    @property
    def totals(self) -> Mapping[str, int]:
        """Differences summed over the partitions."""
        return self.data["totals"]

    def partition_keys(self) -> list[PartitionKey]:
        """The canaried partitions."""
        iv = parse_interval(self.data["interval"])
        return [PartitionKey.parse(iv, p["partition"]) for p in self.partitions]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a copy)."""
        return json.loads(json.dumps(self.data))

    def write(self, path: Path) -> Path:
        """Write the report atomically (a temporary file renamed over ``path``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CanaryReport:
        """Read a report ``write`` wrote; anything else is ``InvalidRequestError`` (``report``)."""
        p = Path(path)
        try:
            data = json.loads(read_text_file(p, "report"))
        except json.JSONDecodeError as exc:
            raise InvalidRequestError("report", f"{p} is not JSON: {exc.msg}") from None
        if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
            raise InvalidRequestError("report", f"{p} is not a canary report")
        if data.get("version") != REPORT_VERSION:
            raise InvalidRequestError(
                "report", f"{p} is version {data.get('version')!r}; this is {REPORT_VERSION}"
            )
        for name in ("interval", "partitions", "verdict", "shadow_store", "main_store"):
            if name not in data:
                raise InvalidRequestError("report", f"{p} has no {name!r}")
        return cls(data)


def canary_partition(
    main: BarStore,
    shadow: BarStore,
    fetcher: Any,
    key: PartitionKey,
    *,
    policy: FillPolicy,
    settings: CanarySettings,
    checks: CheckEvaluator | None = None,
    now: float | None = None,
) -> PartitionCanary:
    """Fill one partition into ``shadow`` with ``fetcher`` and compare it with ``main``."""
    node, iv, (ws, we) = key.node_id, key.interval, key.window
    # Empty the shadow's window first: a re-run canary fetches again instead of
    # finding the window covered by the previous one.
    shadow.remove_coverage(node, iv, RangeSet.span(ws, we))
    report: ConformanceReport | None = None
    error: str | None = None
    shadow_frame: pd.DataFrame | None = None
    try:
        result = fill_window(
            shadow, fetcher, node, iv, ws, we, policy=policy, now=now, request_id=f"canary:{key}"
        )
        report, shadow_frame = result.report, result.frame
    except ConformanceError as exc:
        report, error = exc.report, f"nonconformant: {exc.report.summary}"
    except FetchError as exc:
        error = f"fetch failed: {exc}"
    if shadow_frame is None:
        shadow_frame = shadow.read(node, iv, ws, we)
    shadow_cov = shadow.coverage(node, iv).clip(ws, we)
    main_frame = main.read(node, iv, ws, we)
    main_cov = main.coverage(node, iv).clip(ws, we)
    tolerances = {c: settings.tolerance(c) for c in ("open", "high", "low", "close", "volume")}
    horizon = we
    if we > iv.now_edge(now):
        # The window is still open: the main store was last filled up to an older
        # now edge than the shadow just was. Bars after the earlier of the two
        # ends are the tail's business, not a difference of the candidate.
        horizon = min(main_cov.end or ws, shadow_cov.end or ws)
    comparison = compare_frames(
        _before(main_frame, horizon), _before(shadow_frame, horizon), tolerances
    )
    outcomes: dict[str, dict[str, Any]] = {}
    if checks is not None:
        for side, frame, cov, rep in (
            ("main", main_frame, main_cov, None),
            ("shadow", shadow_frame, shadow_cov, report),
        ):
            for outcome in checks(key, frame, cov, rep, now):
                entry = outcomes.setdefault(outcome.name, {})
                entry[side] = bool(outcome.passed)
                entry[f"{side}_description"] = outcome.description
    conformance = (
        {
            "ok": report.ok,
            "summary": report.summary,
            "rejected_bars": report.rejected_bars,
            "flag_counts": {k: v for k, v in report.flag_counts.items() if v},
            "rule_violations": {k: v for k, v in report.rule_violations.items() if v},
        }
        if report is not None
        else {}
    )
    return PartitionCanary(
        key=key,
        comparison=comparison,
        main_fingerprint=frame_fingerprint(main_frame, main_cov),
        shadow_fingerprint=frame_fingerprint(shadow_frame, shadow_cov),
        main_covered_s=main_cov.total(),
        shadow_covered_s=shadow_cov.total(),
        checks=outcomes,
        conformance=conformance,
        error=error,
        compared_until=horizon,
    )


def _before(frame: pd.DataFrame, end: int) -> pd.DataFrame:
    ts = frame["ts"].to_numpy(dtype="datetime64[ns]").view("int64")
    cut = int(np.searchsorted(ts, end * NS))
    return frame if cut == len(frame) else frame.iloc[:cut].reset_index(drop=True)


def run_canary(
    main: BarStore,
    shadow: BarStore,
    fetcher: Any,
    keys: Sequence[PartitionKey],
    *,
    fetcher_spec: str,
    main_path: str,
    shadow_path: str,
    policy: FillPolicy,
    settings: CanarySettings,
    checks: CheckEvaluator | None = None,
    now: float | None = None,
    progress: Callable[[PartitionCanary], None] | None = None,
) -> CanaryReport:
    """Canary every partition of ``keys`` (one interval) and sum it up with a verdict."""
    if not keys:
        raise InvalidRequestError("partitions", "the canary names no partition")
    intervals = {k.interval for k in keys}
    if len(intervals) != 1:
        raise InvalidRequestError("interval", "a canary covers one interval")
    started = time.time()
    results = []
    for key in keys:
        item = canary_partition(
            main, shadow, fetcher, key, policy=policy, settings=settings, checks=checks, now=now
        )
        results.append(item)
        if progress is not None:
            progress(item)
    totals = {
        "partitions": len(results),
        "identical_partitions": sum(r.comparison.identical and r.error is None for r in results),
        "differing_bars": sum(len(r.comparison.differing) for r in results),
        "only_main_bars": sum(len(r.comparison.only_main) for r in results),
        "only_shadow_bars": sum(len(r.comparison.only_shadow) for r in results),
        "check_regressions": sum(len(r.check_regressions) for r in results),
        "errors": sum(r.error is not None for r in results),
    }
    verdict = judge(totals, settings)
    data = {
        "kind": REPORT_KIND,
        "version": REPORT_VERSION,
        "created_at": datetime.fromtimestamp(started, UTC).isoformat().replace("+00:00", "Z"),
        "elapsed_s": round(time.time() - started, 3),
        "fetcher": fetcher_spec,
        "interval": keys[0].interval.name,
        "main_store": main_path,
        "shadow_store": shadow_path,
        "tolerances": {c: t.model_dump() for c, t in settings.tolerances.items()},
        "thresholds": settings.thresholds.model_dump(),
        "totals": totals,
        "verdict": verdict,
        "partitions": [r.to_dict() for r in results],
    }
    return CanaryReport(data)


def judge(totals: Mapping[str, int], settings: CanarySettings) -> dict[str, Any]:
    """``{"passed": bool, "reasons": [...]}``: every threshold the totals exceed, and
    every partition the candidate could not fill (always a failure)."""
    t = settings.thresholds
    limits = (
        ("differing_bars", t.max_differing_bars),
        ("only_main_bars", t.max_only_main_bars),
        ("only_shadow_bars", t.max_only_shadow_bars),
        ("check_regressions", t.max_check_regressions),
    )
    reasons = [
        f"{name}: {totals[name]} > {limit} (canary.thresholds.max_{name})"
        for name, limit in limits
        if totals[name] > limit
    ]
    if totals["errors"]:
        reasons.append(f"errors: {totals['errors']} partition(s) the candidate could not fill")
    return {"passed": not reasons, "reasons": reasons}
