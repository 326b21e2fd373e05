"""ConformanceReport: what the conformance pipeline saw and did to one frame.

A report is a frozen value. Counts describe rows and bars. ``violations``
counts what broke the contract (schema errors plus bars rejected by a
``block`` rule); whether that blocks depends on the mode the policy chose:
in ``strict`` mode (``blocking=True``) ``ok`` is False as soon as there is a
violation, in ``canary`` mode ``ok`` stays True and the violations are only
reported. Reports of several windows combine with :meth:`merge`, which adds
the counts, so one read that spans many fetched windows still has one report.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from seamless_sdk.conformance.spec.flags import ALL_FLAGS
from seamless_sdk.conformance.spec.rules import QUALITY_RULES, STATISTICAL_RULES
from seamless_sdk.jsonable import jsonable

MAX_FAILURE_CASES = 100
"""Failure cases kept per report: enough to debug, small enough for Dagster metadata."""

_ZERO_FLAGS: dict[str, int] = {str(f.name): 0 for f in ALL_FLAGS}
_ZERO_RULES: dict[str, int] = dict.fromkeys((*QUALITY_RULES, *STATISTICAL_RULES), 0)


def _zero_flags() -> dict[str, int]:
    return dict(_ZERO_FLAGS)


def _zero_rules() -> dict[str, int]:
    return dict(_ZERO_RULES)


@dataclass(frozen=True)
class ConformanceReport:
    """The result of conforming one frame (or, after ``merge``, several).

    ``rows_in`` counts rows handed in; ``rows_out`` the bars in the conformed
    frame. ``dropped_outside_window`` counts rows whose bar lay outside the
    asked window, ``duplicates`` rows identical to a kept row, ``rolled_up``
    bars formed from more than one different sample, ``superseded`` rows that
    lost their bar to a better source or a later write (the ``dedup``
    policy). ``out_of_order`` counts rows that arrived after a newer row,
    ``late`` those of them more than the policy's window behind (both are
    kept). ``gaps`` is left at 0 here: only the caller knows which bars were
    expected. ``flag_counts`` and ``rule_violations`` list every flag and rule,
    zeros included (a ``warn`` rule counts the bars it flagged ``SUSPECT``).
    ``watermark_low``/``watermark_high`` are the first bar's open and the last
    bar's end (epoch seconds, None without bars). ``schema_fingerprint`` is
    the registry bundle's fingerprint and ``policy`` the resolved modes
    config (``Policy.to_dict()``).
    """

    ok: bool = True
    rows_in: int = 0
    rows_out: int = 0
    dropped_outside_window: int = 0
    duplicates: int = 0
    rolled_up: int = 0
    out_of_order: int = 0
    rejected_bars: int = 0
    gaps: int = 0
    flag_counts: dict[str, int] = field(default_factory=_zero_flags)
    rule_violations: dict[str, int] = field(default_factory=_zero_rules)
    schema_errors: list[str] = field(default_factory=list)
    failure_cases: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    schema: str = "ohlcv_bars"
    schema_version: str = "1"
    windows: int = 1
    mode: str = "strict"
    blocking: bool = True
    violations: int = 0
    late: int = 0
    superseded: int = 0
    watermark_low: int | None = None
    watermark_high: int | None = None
    schema_fingerprint: str = ""
    policy: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> ConformanceReport:
        """The report of nothing: ok, every count zero, no windows.

        It is the identity of :meth:`merge`.
        """
        # A copy of one made by the dataclass' __init__, with containers of its
        # own: every read starts from one (500 in a read_many), and the frozen
        # __init__ sets 26 fields one object.__setattr__ at a time (16 us).
        report = object.__new__(cls)
        values = report.__dict__
        values.update(_EMPTY.__dict__)
        for name in _CONTAINERS:
            values[name] = values[name].copy()
        return report

    @property
    def summary(self) -> str:
        """One line for logs and exception messages."""
        head = "ok" if self.ok else "FAILED"
        if self.violations and not self.blocking:
            head += f" ({self.mode}: {self.violations} violation(s) not blocking)"
        text = (
            f"{head}: {self.rows_in} rows in, {self.rows_out} bars out; "
            f"{self.dropped_outside_window} outside window, {self.duplicates} duplicates, "
            f"{self.rolled_up} rolled up, {self.out_of_order} out of order"
        )
        for count, label in ((self.late, "late"), (self.superseded, "superseded")):
            if count:
                text += f", {count} {label}"
        broken = {k: v for k, v in self.rule_violations.items() if v}
        if broken:
            rules = ", ".join(f"{k}={v}" for k, v in broken.items())
            text += f"; {self.rejected_bars} bars rejected ({rules})"
        strict = self.stages.get("strict")
        if strict and strict.get("ok") is False:
            text += f"; strict: expected {strict['expected']} bars, got {strict['observed']}"
        if self.schema_errors:
            more = len(self.schema_errors) - 1
            text += f"; schema: {self.schema_errors[0]}" + (f" (+{more} more)" if more else "")
        return text

    def merge(self, other: ConformanceReport) -> ConformanceReport:
        """A report covering both: counts added, errors and cases concatenated.

        Labels (mode, fingerprint, policy) come from the first report that
        covers a window; windows checked under another mode or schema bundle
        turn them into ``"mixed"``.
        """
        first = other if self.windows == 0 else self
        second = self if self.windows == 0 else other
        return ConformanceReport(
            ok=self.ok and other.ok,
            rows_in=self.rows_in + other.rows_in,
            rows_out=self.rows_out + other.rows_out,
            dropped_outside_window=self.dropped_outside_window + other.dropped_outside_window,
            duplicates=self.duplicates + other.duplicates,
            rolled_up=self.rolled_up + other.rolled_up,
            out_of_order=self.out_of_order + other.out_of_order,
            rejected_bars=self.rejected_bars + other.rejected_bars,
            gaps=self.gaps + other.gaps,
            flag_counts=_add_counts(self.flag_counts, other.flag_counts),
            rule_violations=_add_counts(self.rule_violations, other.rule_violations),
            schema_errors=[*self.schema_errors, *other.schema_errors],
            failure_cases=[*self.failure_cases, *other.failure_cases][:MAX_FAILURE_CASES],
            stages=_merge_stages(self.stages, other.stages),
            schema=first.schema,
            schema_version=_label(first.schema_version, second.schema_version, second.windows),
            windows=self.windows + other.windows,
            mode=_label(first.mode, second.mode, second.windows),
            blocking=first.blocking or (second.blocking and second.windows > 0),
            violations=self.violations + other.violations,
            late=self.late + other.late,
            superseded=self.superseded + other.superseded,
            watermark_low=_extreme(min, self.watermark_low, other.watermark_low),
            watermark_high=_extreme(max, self.watermark_high, other.watermark_high),
            schema_fingerprint=_label(
                first.schema_fingerprint, second.schema_fingerprint, second.windows
            ),
            policy=dict(first.policy),
        )

    def with_gaps(self, gaps: int) -> ConformanceReport:
        """A copy with ``gaps`` set (the caller knows which bars were expected)."""
        return replace(self, gaps=gaps)

    def with_strict(
        self, *, expected: int, observed: int, missing: list[int], unexpected: list[int]
    ) -> ConformanceReport:
        """A copy recording the ``strict=True`` check of returned against expected bars.

        ``missing``/``unexpected`` are bar opens (epoch seconds; the caller may
        pass only the first few). Any of them makes the report not ok.
        """
        passed = not missing and not unexpected
        stage = {
            "ok": passed,
            "expected": expected,
            "observed": observed,
            "missing": [int(x) for x in missing[:MAX_FAILURE_CASES]],
            "unexpected": [int(x) for x in unexpected[:MAX_FAILURE_CASES]],
        }
        return replace(self, ok=self.ok and passed, stages={**self.stages, "strict": stage})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (``json.dumps(..., allow_nan=False)`` works)."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "schema": self.schema,
            "schema_version": self.schema_version,
            "schema_fingerprint": self.schema_fingerprint,
            "mode": self.mode,
            "blocking": self.blocking,
            "violations": self.violations,
            "windows": self.windows,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped_outside_window": self.dropped_outside_window,
            "duplicates": self.duplicates,
            "rolled_up": self.rolled_up,
            "out_of_order": self.out_of_order,
            "late": self.late,
            "superseded": self.superseded,
            "rejected_bars": self.rejected_bars,
            "gaps": self.gaps,
            "watermark_low": self.watermark_low,
            "watermark_high": self.watermark_high,
            "flag_counts": dict(self.flag_counts),
            "rule_violations": dict(self.rule_violations),
            "schema_errors": list(self.schema_errors),
            "failure_cases": [{k: jsonable(v) for k, v in c.items()} for c in self.failure_cases],
            "stages": {
                name: {k: jsonable(v) for k, v in s.items()} for name, s in self.stages.items()
            },
            "policy": jsonable(self.policy),
        }


_CONTAINERS: tuple[str, ...] = tuple(
    f.name for f in fields(ConformanceReport) if f.default_factory is not MISSING
)
"""The fields each report must not share with another (their defaults are factories)."""

_EMPTY = ConformanceReport(windows=0)
"""``ConformanceReport.empty()``'s template: made by the dataclass' own ``__init__``."""


def _label(first: str, second: str, second_windows: int) -> str:
    if second_windows == 0 or first == second or not second:
        return first
    return "mixed" if first else second


def _extreme(pick: Any, a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return int(pick(a, b))


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _merge_stages(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {name: dict(stage) for name, stage in a.items()}
    for name, stage in b.items():
        mine = out.setdefault(name, {})
        for key, value in stage.items():
            if key not in mine:
                mine[key] = value
            else:
                mine[key] = _merge_value(mine[key], value)
    return out


def _merge_value(a: Any, b: Any) -> Any:
    # Stage entries are flat: flags (and-ed: a stage is ok only if ok everywhere),
    # counts (added), lists (concatenated, deduplicated) and labels (kept when
    # equal, listed when they differ, e.g. the ts kinds seen across windows).
    if isinstance(a, bool) and isinstance(b, bool):
        return a and b
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    if isinstance(a, float) and isinstance(b, float):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return [*a, *(x for x in b if x not in a)]
    if a == b:
        return a
    left = a if isinstance(a, list) else [a]
    return [*left, *(x for x in (b if isinstance(b, list) else [b]) if x not in left)]
