"""The answer to a read: one frame and the metadata that tells the truth about it.

The engine gathers a :class:`ReadState` as it walks the sources; ``finish``
turns it into a ``HistoryResult``: coverage and missing, per-source
contributions, watermarks, the SLA report, the quality summary, the strict
calendar check, and the metrics and log event of the read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from seamless_sdk import events
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import iso_utc
from seamless_sdk.calendars import Calendar
from seamless_sdk.conformance import ConformanceReport, check_expected
from seamless_sdk.conformance.engine.expected import strict_fields
from seamless_sdk.errors import ConformanceError, DataUnavailableError, SeamlessSLAExceeded
from seamless_sdk.frames import Bars, FrameMaker
from seamless_sdk.intervals import Interval
from seamless_sdk.metrics import Metrics
from seamless_sdk.quality_summary import QualitySummary
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import BarRequest
from seamless_sdk.result import BackfillReport, HistoryMeta, HistoryResult, SLAReport, Watermarks
from seamless_sdk.sla import Deadline
from seamless_sdk.strategy import Source, Strategy

if TYPE_CHECKING:
    from seamless_sdk.provider import ReadOptions


@dataclass
class ReadState:
    """What one request has gathered so far."""

    request: BarRequest
    options: ReadOptions
    request_id: str
    deadline: Deadline
    remaining: RangeSet
    pieces: list[tuple[str, Bars]]
    contributions: dict[Source, RangeSet]
    report: ConformanceReport
    backfill: BackfillReport
    notes: list[str]
    edge: int
    policy: FillPolicy
    trace_id: str | None = None
    """The read's OpenTelemetry trace (``None`` when tracing is off)."""

    def event(
        self, name: str, *, start: int | None = None, end: int | None = None, **fields: Any
    ) -> None:
        """A structured log event of this request (its range unless told otherwise),
        with the request's strategy unless the event names one itself."""
        r = self.request
        fields.setdefault("strategy", self.options.strategy.value)
        events.emit(
            name,
            node_id=r.node_id,
            interval=r.interval.name,
            start=r.start if start is None else start,
            end=r.end if end is None else end,
            request_id=self.request_id,
            **fields,
        )


def finish(
    st: ReadState,
    calendars: Callable[[str], Calendar],
    metrics: Metrics,
    make_frame: FrameMaker | None,
) -> HistoryResult:
    """The frame and the metadata of a request whose sources are all done."""
    r, opts = st.request, st.options
    coverage = RangeSet.span(r.start, r.end).subtract(st.remaining)
    if opts.strategy is Strategy.FAIL_FAST and st.remaining:
        raise DataUnavailableError(
            st.remaining, f"{r.node_id} {r.interval.name}: missing {_spans(st.remaining)}"
        )
    bars = Bars.concat([b for _, b in st.pieces])
    secs = bars.ts_seconds
    calendar = calendars(r.node_id)
    if opts.strict:
        _check_strict(calendar, st, secs)
    df = make_frame(bars, st.pieces, opts.lineage) if make_frame is not None else pd.DataFrame()
    summary = QualitySummary(
        bars.flags, st.report, lambda: _gaps(calendar, r.interval, coverage, secs)
    )
    watermarks = (
        Watermarks(int(secs[0]), int(secs[-1]) + r.interval.seconds) if len(secs) else Watermarks()
    )
    budget_total = opts.sla.total_deadline_ms
    over = budget_total is not None and st.deadline.total_elapsed_ms() > budget_total
    if over and st.deadline.violation is None:
        # Over the total only in the end, building the answer (after the last
        # phase was checked): AUTO_BACKFILL raises even so, as at any budget.
        budget_ran_out(st, metrics, "total", "total budget ran out while the answer was built")
    total_ms = st.deadline.total_elapsed_ms()
    meta = HistoryMeta(
        request_id=st.request_id,
        strategy=opts.strategy,
        strict=opts.strict,
        coverage=coverage,
        missing=st.remaining,
        source_contributions=st.contributions,
        watermarks=watermarks,
        sla_report=sla_report(st, st.deadline.violation),
        quality_summary=summary,
        conformance=st.report,
        backfill=st.backfill,
        notes=tuple(st.notes),
        node_id=r.node_id,
        interval=r.interval.name,
        start=r.start,
        end=r.end,
        trace_id=st.trace_id,
    )
    _observe(metrics, st, meta, total_ms)
    return HistoryResult(df, meta)


_SOURCE_PHASES = frozenset({"storage", "backfill", "live"})


def budget_ran_out(st: ReadState, metrics: Metrics, budget: str, note: str) -> None:
    """Act on ``budget`` having run out: AUTO_BACKFILL raises
    ``SeamlessSLAExceeded``; every other strategy answers partial with the
    violation set and ``note`` added (the first budget that ran out is the one
    reported, and counted)."""
    elapsed = st.deadline.elapsed_for(budget)
    budget_ms = st.options.sla.budgets_ms().get(budget)
    if st.deadline.violation is None:  # a request counts once, by its first budget
        metrics.sla_violation(budget)
    st.event(
        events.SLA,
        phase=budget,
        elapsed_ms=elapsed,
        budget_ms=budget_ms,
        # The phase's source, and how long the read waited on it.
        source=budget if budget in _SOURCE_PHASES else None,
        wait_ms=st.deadline.elapsed_ms.get(budget),
        error_kind="sla_exceeded",
    )
    if st.options.strategy is Strategy.AUTO_BACKFILL:
        # The reads that ran over budget belong in the latency histogram most.
        observe_phases(metrics, st, st.deadline.total_elapsed_ms())
        raise SeamlessSLAExceeded(budget, budget_ms, elapsed, report=sla_report(st, budget))
    st.deadline.violation = st.deadline.violation or budget
    st.notes.append(note)


def _spans(ranges: RangeSet) -> str:
    """``ranges`` for a person: ``[2025-06-01T00:00:00Z, 2025-06-02T00:00:00Z), ...``."""
    return ", ".join(f"[{iso_utc(s)}, {iso_utc(e)})" for s, e in ranges)


def _check_strict(calendar: Calendar, st: ReadState, secs: np.ndarray) -> None:
    r = st.request
    ok, details = check_expected(calendar, r.interval, r.start, r.end, secs)
    if ok:
        return
    report = st.report.with_strict(**strict_fields(details))
    raise ConformanceError(
        report,
        f"strict: {r.node_id} {r.interval.name} expected {details['expected']} bars, got "
        f"{details['observed']} ({details['missing_count']} missing, "
        f"{details['unexpected_count']} unexpected)",
    )


def sla_report(st: ReadState, violation: str | None) -> SLAReport:
    """Elapsed time per phase against the budgets."""
    d = st.deadline
    return SLAReport(
        elapsed_ms=dict(d.elapsed_ms),
        budgets_ms=st.options.sla.budgets_ms(),
        total_ms=d.total_elapsed_ms(),
        retries=d.retries,
        timeouts=d.timeouts,
        violation=violation,
    )


def _observe(m: Metrics, st: ReadState, meta: HistoryMeta, total_ms: float) -> None:
    r = st.request
    span = r.end - r.start
    partial = (meta.missing.total() / span) if span else 0.0
    m.observe_read(
        st.options.strategy.value,
        r.interval.name,
        total_ms / 1000,
        partial,
        strict=st.options.strict,
        violation=meta.sla_report.violation,
        sources=[source.value for source in meta.source_contributions],
    )
    observe_phases(m, st, total_ms)
    if events.enabled():
        st.event(
            events.READ,
            strategy=st.options.strategy.value,
            missing=meta.missing,
            total_ms=round(total_ms, 3),
            violation=meta.sla_report.violation,
            source=",".join(str(s) for s in meta.source_contributions) or None,
            wait_ms=st.deadline.elapsed_ms.get("backfill"),
        )


def observe_phases(m: Metrics, st: ReadState, total_ms: float) -> None:
    """``seamless_sla_deadline_seconds`` of every phase of a request and of the
    whole of it, as seed 002 names them, whether it answered or raised; the
    cache lookup is too cheap to be worth a series."""
    node = st.request.node_id
    for phase, ms in st.deadline.elapsed_ms.items():
        if phase != "cache":
            m.observe_phase(node, phase, ms / 1000)
    m.observe_phase(node, "total", total_ms / 1000)


def _gaps(calendar: Any, interval: Interval, coverage: RangeSet, secs: np.ndarray) -> int:
    """Expected bars inside ``coverage`` that no row stands for."""
    expected = sum(calendar.count_expected_bars(interval, s, e) for s, e in coverage)
    return max(0, expected - len(secs))
