"""SLA budgets and the clock that enforces them.

``SLAPolicy`` holds the budgets of a read (seed 003 §6). ``Deadline`` turns
them into timeouts per phase: a wait is never longer than what is left of
both the phase budget and the total, and the caller stops waiting (the fill
itself goes on in the background) when it runs out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

from seamless_sdk.errors import InvalidRequestError

PHASES = ("cache", "storage", "backfill", "live", "conform")


@dataclass(frozen=True, slots=True)
class SLAPolicy:
    """Latency budgets (milliseconds; ``None`` = no limit) and retry settings.

    >>> SLAPolicy(total_deadline_ms=2000).total_deadline_ms
    2000
    """

    total_deadline_ms: float | None = None
    max_wait_storage_ms: float | None = None
    max_wait_backfill_ms: float | None = None
    max_wait_live_ms: float | None = None
    retry_backoff_ms: float | None = 200
    max_attempts: int | None = 3
    jitter_ratio: float | None = 0.25
    max_sync_gap_bars: int | None = 1440

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequestError(f"sla.{f.name}", f"{value!r} is not a number")
            if value < 0:
                raise InvalidRequestError(f"sla.{f.name}", f"{value!r} is negative")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise InvalidRequestError("sla.max_attempts", f"{self.max_attempts} must be ≥ 1")
        if self.jitter_ratio is not None and self.jitter_ratio > 1:
            raise InvalidRequestError("sla.jitter_ratio", f"{self.jitter_ratio} must be ≤ 1")

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

    def total_elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def timeout_s(self, phase: str) -> tuple[float | None, str]:
        """Seconds a wait in ``phase`` may take, and which budget binds it."""
        candidates: list[tuple[float, str]] = []
        budget = self.policy.phase_budget_ms(phase)
        if budget is not None:
            candidates.append((budget - self.elapsed_ms.get(phase, 0.0), phase))
        if self.policy.total_deadline_ms is not None:
            candidates.append((self.policy.total_deadline_ms - self.total_elapsed_ms(), "total"))
        if not candidates:
            return None, phase
        ms, binding = min(candidates)
        return max(0.0, ms) / 1000.0, binding

    def add(self, phase: str, ms: float) -> None:
        self.elapsed_ms[phase] = self.elapsed_ms.get(phase, 0.0) + ms
