"""What a read returns: the frame and the metadata that tells the truth about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.jsonable import jsonable
from seamless_sdk.ranges import RangeSet
from seamless_sdk.strategy import Source, Strategy


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Event-time bounds of the returned bars: the first bar's open and the end
    of the last bar, epoch seconds (``None`` when nothing was returned)."""

    event_time_low: int | None = None
    event_time_high: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event_time_low": self.event_time_low, "event_time_high": self.event_time_high}


@dataclass(frozen=True, slots=True)
class SLAReport:
    """Time spent per phase against the budgets, and the phase that ran out."""

    elapsed_ms: Mapping[str, float] = field(default_factory=dict)
    budgets_ms: Mapping[str, float | None] = field(default_factory=dict)
    total_ms: float = 0.0
    retries: int = 0
    timeouts: int = 0
    violation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "elapsed_ms": dict(self.elapsed_ms),
            "budgets_ms": dict(self.budgets_ms),
            "total_ms": self.total_ms,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "violation": self.violation,
        }


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """Backfill work a read caused.

    ``synchronous`` windows were filled while the read waited; ``detached`` ones
    were handed to the background (in-process jobs or Dagster runs);
    ``attached`` ones were already in flight and joined, not duplicated.
    """

    requested: RangeSet = field(default_factory=RangeSet)
    synchronous: RangeSet = field(default_factory=RangeSet)
    detached: RangeSet = field(default_factory=RangeSet)
    attached: RangeSet = field(default_factory=RangeSet)
    run_ids: tuple[str, ...] = ()

    def add(
        self,
        ticket: BackfillTicket,
        *,
        synchronous: RangeSet | None = None,
        detached: RangeSet | None = None,
    ) -> BackfillReport:
        """This report plus one backfiller answer: ``ticket.requested`` windows,
        of which ``synchronous`` were filled while the read waited and
        ``detached`` left to the background."""
        return BackfillReport(
            requested=self.requested.union(ticket.requested),
            synchronous=self.synchronous.union(synchronous or RangeSet()),
            detached=self.detached.union(detached or RangeSet()),
            attached=self.attached.union(ticket.attached),
            run_ids=tuple(dict.fromkeys(self.run_ids + ticket.run_ids)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested.to_list(),
            "synchronous": self.synchronous.to_list(),
            "detached": self.detached.to_list(),
            "attached": self.attached.to_list(),
            "run_ids": list(self.run_ids),
        }


@dataclass(frozen=True, slots=True)
class HistoryMeta:
    """Everything a caller needs to trust a result.

    ``coverage`` ∪ ``missing`` is exactly the request and they are disjoint;
    ``source_contributions`` says which source served which part of coverage.
    """

    request_id: str
    strategy: Strategy
    strict: bool
    coverage: RangeSet
    missing: RangeSet
    source_contributions: Mapping[Source, RangeSet]
    watermarks: Watermarks
    sla_report: SLAReport
    quality_summary: Mapping[str, Any]
    conformance: Any
    backfill: BackfillReport
    notes: tuple[str, ...] = ()
    node_id: str = ""
    interval: str = ""
    start: int = 0
    end: int = 0
    trace_id: str | None = None
    """The OpenTelemetry trace of the read (32 hex digits), whose ``history.read``
    span has this ``request_id``; ``None`` when tracing is off."""

    @property
    def coverage_ranges(self) -> RangeSet:
        """Seed 003's name for ``coverage``."""
        return self.coverage

    @property
    def missing_ranges(self) -> RangeSet:
        """Seed 003's name for ``missing``."""
        return self.missing

    @property
    def complete(self) -> bool:
        """True when nothing of the request is missing."""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "node_id": self.node_id,
            "interval": self.interval,
            "start": self.start,
            "end": self.end,
            "strategy": self.strategy.value,
            "strict": self.strict,
            "coverage": self.coverage.to_list(),
            "missing": self.missing.to_list(),
            "source_contributions": {
                str(k): v.to_list() for k, v in self.source_contributions.items()
            },
            "watermarks": self.watermarks.to_dict(),
            "sla_report": self.sla_report.to_dict(),
            "quality_summary": jsonable(self.quality_summary),
            "conformance": jsonable(self.conformance),
            "backfill": self.backfill.to_dict(),
            "notes": list(self.notes),
            "trace_id": self.trace_id,
        }


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """A read's answer: ``df`` (the bars) and ``meta`` (the truth about them)."""

    df: pd.DataFrame
    meta: HistoryMeta

    def __iter__(self):  # type: ignore[no-untyped-def]
        # Lets callers unpack: ``df, meta = provider.read(...)``.
        yield self.df
        yield self.meta
