"""SLA budgets and the clock that enforces them.

``SLAPolicy`` holds the budgets of a read (seed 003 §6). ``Deadline`` turns
them into timeouts per phase: a wait is never longer than what is left of
both the phase budget and the total, and the caller stops waiting (the fill
itself goes on in the background) when it runs out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seamless_sdk.checks import check_number

DEFAULT_RETRY_BACKOFF_MS = 200.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_JITTER_RATIO = 0.25
DEFAULT_MAX_SYNC_GAP_BARS = 1440
MAX_BACKOFF_MS = 30_000.0
"""The longest wait between two fetch attempts, whatever ``retry_backoff_ms``
and the attempt number say (exponential backoff is capped here)."""
MAX_BUDGET_MS = 7 * 24 * 3600 * 1000.0
"""The largest budget a policy takes (one week): a longer one is a mistake, and
an unbounded wait is spelled ``None``."""
MAX_ATTEMPTS = 100
MAX_SYNC_GAP_BARS = 10**9

_BUDGETS = ("total_deadline_ms", "max_wait_storage_ms", "max_wait_backfill_ms", "max_wait_live_ms")


@dataclass(frozen=True, slots=True)
class SLAPolicy:
    """Latency budgets of a read and the retry settings of the fills it causes.

    Every field may be ``None``, which means:

    - ``total_deadline_ms``, ``max_wait_storage_ms``, ``max_wait_backfill_ms``,
      ``max_wait_live_ms``: no limit on that phase (budgets are milliseconds,
      0 to one week);
    - ``max_attempts``: one attempt, no retry (at most 100);
    - ``retry_backoff_ms``: no wait between attempts (the wait doubles per
      attempt and is capped at ``MAX_BACKOFF_MS``, 30 s);
    - ``jitter_ratio``: no jitter (a ratio in ``[0, 1]``);
    - ``max_sync_gap_bars``: SEAMLESS fills every gap synchronously, however
      large (otherwise larger gaps are detached).

    Numbers must be finite and not negative; booleans, NaN and infinities are
    rejected with ``InvalidRequestError`` naming the field.

    >>> SLAPolicy(total_deadline_ms=2000).total_deadline_ms
    2000
    """

    total_deadline_ms: float | None = None
    max_wait_storage_ms: float | None = None
    max_wait_backfill_ms: float | None = None
    max_wait_live_ms: float | None = None
    retry_backoff_ms: float | None = DEFAULT_RETRY_BACKOFF_MS
    max_attempts: int | None = DEFAULT_MAX_ATTEMPTS
    jitter_ratio: float | None = DEFAULT_JITTER_RATIO
    max_sync_gap_bars: int | None = DEFAULT_MAX_SYNC_GAP_BARS

    def __post_init__(self) -> None:
        for name in _BUDGETS:
            check_number(
                f"sla.{name}", getattr(self, name), 0, MAX_BUDGET_MS, none_means="no limit"
            )
        check_number("sla.retry_backoff_ms", self.retry_backoff_ms, 0, MAX_BACKOFF_MS)
        check_number("sla.jitter_ratio", self.jitter_ratio, 0, 1)
        check_number("sla.max_attempts", self.max_attempts, 1, MAX_ATTEMPTS, integer=True)
        check_number(
            "sla.max_sync_gap_bars", self.max_sync_gap_bars, 0, MAX_SYNC_GAP_BARS, integer=True
        )

    @classmethod
    def from_preset(cls, name: str, overrides: Mapping[str, Any] | None = None) -> SLAPolicy:
        """The policy of the SLA preset ``name`` (seed 003 section 6, shipped as
        ``seamless_sdk/presets/sla_presets.yaml``), with ``overrides`` (name →
        preset mapping, as under ``seamless: sla_presets:`` in ``seamless.yaml``)
        laid over the shipped ones. An unknown name or a bad value is
        ``InvalidRequestError`` naming the key.

        >>> SLAPolicy.from_preset("seamless").max_wait_backfill_ms
        5000.0
        """
        from seamless_sdk.presets import load_sla_presets  # the presets import this module

        return load_sla_presets(overrides)[name].policy

    def phase_budget_ms(self, phase: str) -> float | None:
        """The budget of one phase (``storage``, ``backfill``, ``live``), if any."""
        return {
            "storage": self.max_wait_storage_ms,
            "backfill": self.max_wait_backfill_ms,
            "live": self.max_wait_live_ms,
        }.get(phase)

    def budgets_ms(self) -> dict[str, float | None]:
        return {
            "total": self.total_deadline_ms,
            "storage": self.max_wait_storage_ms,
            "backfill": self.max_wait_backfill_ms,
            "live": self.max_wait_live_ms,
        }


@dataclass
class Deadline:
    """Tracks elapsed time per phase of one request against an SLAPolicy."""

    policy: SLAPolicy
    started: float = field(default_factory=time.perf_counter)
    elapsed_ms: dict[str, float] = field(default_factory=dict)
    retries: int = 0
    timeouts: int = 0
    violation: str | None = None
    reserve_s: float = 0.0
    """Seconds the total deadline's waits keep back for answering after them
    (``read_many``: its reads are finished one after another once they stop
    waiting, so each keeps back time for the others)."""

    def total_elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def timeout_s(self, phase: str) -> tuple[float | None, str]:
        """Seconds a wait in ``phase`` may take, and which budget binds it."""
        candidates: list[tuple[float, str]] = []
        budget = self.policy.phase_budget_ms(phase)
        if budget is not None:
            candidates.append((budget - self.elapsed_ms.get(phase, 0.0), phase))
        if self.policy.total_deadline_ms is not None:
            left = self.policy.total_deadline_ms - self.total_elapsed_ms() - self.reserve_s * 1000
            candidates.append((left, "total"))
        if not candidates:
            return None, phase
        ms, binding = min(candidates)
        return max(0.0, ms) / 1000.0, binding

    def add(self, phase: str, ms: float) -> None:
        self.elapsed_ms[phase] = self.elapsed_ms.get(phase, 0.0) + ms

    def overrun(self, phase: str) -> tuple[str, float, float] | None:
        """The budget that has run out after ``phase`` (its own first, then the
        total) as ``(name, budget_ms, elapsed_ms)``, or None."""
        budget = self.policy.phase_budget_ms(phase)
        elapsed = self.elapsed_ms.get(phase, 0.0)
        if budget is not None and elapsed > budget:
            return phase, budget, elapsed
        total = self.policy.total_deadline_ms
        elapsed = self.total_elapsed_ms()
        if total is not None and elapsed > total:
            return "total", total, elapsed
        return None

    def elapsed_for(self, budget: str) -> float:
        """Milliseconds spent against ``budget`` (a phase, or ``total``)."""
        return self.total_elapsed_ms() if budget == "total" else self.elapsed_ms.get(budget, 0.0)
