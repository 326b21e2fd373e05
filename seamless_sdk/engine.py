"""The read engine: one request's walk through the sources.

``ReadEngine.run`` is a generator. It does all the planning and bookkeeping
itself and *yields* a :class:`Wait` whenever it must wait for fills or the
live source; the provider's sync driver blocks on it, its async driver awaits
it. So ``read`` and ``aread`` share every rule, and a wait is the only place
where a deadline can cut a request short.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Generator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from seamless_sdk import events
from seamless_sdk.answer import ReadState, finish, sla_report
from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.backfill.fill import FillResult, call_fetcher
from seamless_sdk.backfill.retry import RetryPolicy
from seamless_sdk.conformance import ConformanceReport, Flag, conform_bars
from seamless_sdk.errors import (
    ConformanceError,
    FetchError,
    SeamlessSLAExceeded,
)
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import window_floor, window_next
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import BarRequest
from seamless_sdk.result import BackfillReport, HistoryResult
from seamless_sdk.sla import Deadline
from seamless_sdk.strategy import Source, Strategy

if TYPE_CHECKING:
    from seamless_sdk.provider import ReadOptions, SeamlessDataProvider


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for ``futures`` for at most ``timeout_s`` seconds (None = no limit)."""

    futures: frozenset[Future[Any]]
    timeout_s: float | None


class ReadEngine:
    """Plans and runs reads for one provider."""

    def __init__(self, provider: SeamlessDataProvider) -> None:
        self.p = provider

    def run(
        self, request: BarRequest, options: ReadOptions, *, want_frame: bool
    ) -> Generator[Wait, set[Future[Any]], HistoryResult]:
        st = ReadState(
            request=request,
            options=options,
            request_id=uuid.uuid4().hex,
            deadline=Deadline(options.sla),
            remaining=RangeSet.span(request.start, request.end),
            pieces=[],
            contributions={},
            report=ConformanceReport.empty(),
            backfill=BackfillReport(),
            notes=[],
            edge=request.interval.now_edge(self.p._clock()),
        )
        for source in options.source_priority:
            if not st.remaining:
                break
            if source is Source.CACHE:
                self._from_cache(st)
            elif source is Source.STORAGE:
                self._from_storage(st)
            elif source is Source.BACKFILL:
                yield from self._from_backfill(st)
            elif source is Source.LIVE:
                yield from self._from_live(st)
        return finish(self.p, st, want_frame)

    # -- sources ---------------------------------------------------------------
    def _from_cache(self, st: ReadState) -> None:
        t0 = time.perf_counter()
        r = st.request
        entry = self.p.cache.lookup((r.node_id, r.interval.seconds), r.start, r.end)
        served = entry.covered.intersect(st.remaining) if entry is not None else RangeSet()
        if served:
            self.p.metrics.cache_hit()
            st.pieces.append((Source.CACHE.value, entry.bars.rows_in(served)))  # type: ignore[union-attr]
            st.contributions[Source.CACHE] = served
            st.remaining = st.remaining.subtract(served)
        else:
            self.p.metrics.cache_miss()
        st.deadline.add("cache", (time.perf_counter() - t0) * 1000)

    def _from_storage(self, st: ReadState) -> None:
        t0 = time.perf_counter()
        r = st.request
        coverage = self.p.store.coverage(r.node_id, r.interval)
        served = coverage.intersect(st.remaining)
        if served:
            st.pieces.append((Source.STORAGE.value, self._read_store(st, coverage, served)))
            st.contributions[Source.STORAGE] = served
            st.remaining = st.remaining.subtract(served)
        elapsed = (time.perf_counter() - t0) * 1000
        st.deadline.add("storage", elapsed)
        budget = st.options.sla.max_wait_storage_ms
        if budget is not None and elapsed > budget and st.deadline.violation is None:
            st.deadline.violation = "storage"

    def _read_store(
        self, st: ReadState, coverage: RangeSet, served: RangeSet, *, fresh: bool = False
    ) -> Bars:
        r = st.request
        # Read whole chunks so the cache can answer neighbouring requests too.
        unit = r.interval.chunk_unit
        span_start = window_floor(served.start, unit)  # type: ignore[arg-type]
        span_end = window_next(served.end - 1, unit)  # type: ignore[operator]
        store = self.p.store
        read_bars = getattr(store, "read_bars", None)
        bars = (
            read_bars(r.node_id, r.interval, span_start, span_end)
            if read_bars is not None
            else Bars.from_frame(store.read(r.node_id, r.interval, span_start, span_end))
        )
        series = (r.node_id, r.interval.seconds)
        # Bars just backfilled are cached at once: the caller is likely to ask again.
        uses_cache = Source.CACHE in st.options.source_priority
        if uses_cache and (fresh or self.p.cache.admit(series, span_start, span_end)):
            bars = bars.as_shared()
            self.p.cache.put(
                series, span_start, span_end, bars, coverage.clip(span_start, span_end)
            )
        return bars.rows_in(served)

    def _from_backfill(self, st: ReadState) -> Generator[Wait, set[Future[Any]], None]:
        strategy, r = st.options.strategy, st.request
        if strategy is Strategy.FAIL_FAST:
            return
        if self.p.fetcher is None:
            st.notes.append("no fetcher configured: gaps cannot be backfilled")
            return
        fillable = st.remaining.clip(r.start, min(r.end, st.edge))
        if not fillable:
            return
        sync, detach = self._split_gaps(st, fillable)
        if detach:
            self._detach(st, detach)
        if sync:
            yield from self._fill_now(st, sync)

    def _split_gaps(self, st: ReadState, fillable: RangeSet) -> tuple[RangeSet, RangeSet]:
        strategy = st.options.strategy
        if strategy is Strategy.AUTO_BACKFILL:
            return fillable, RangeSet()
        if strategy is Strategy.PARTIAL_FILL:
            return RangeSet(), fillable
        limit = st.options.sla.max_sync_gap_bars
        if limit is None:
            return fillable, RangeSet()
        bar = st.request.interval.seconds
        small = [(s, e) for s, e in fillable if (e - s) // bar <= limit]
        large = [(s, e) for s, e in fillable if (e - s) // bar > limit]
        for s, e in large:
            st.notes.append(
                f"gap [{s}, {e}) of {(e - s) // bar} bars exceeds max_sync_gap_bars={limit}: "
                "detached, returned partial"
            )
            st.event(
                events.SLA_DOWNGRADE,
                start=s,
                end=e,
                reason="sync_gap",
                bars=(e - s) // bar,
            )
        return RangeSet(small), RangeSet(large)

    def _detach(self, st: ReadState, ranges: RangeSet) -> None:
        ticket: BackfillTicket = self.p.backfiller.request(
            st.request.node_id, st.request.interval, ranges
        )
        st.backfill = st.backfill.add(ticket, detached=ranges)

    def _fill_now(self, st: ReadState, ranges: RangeSet) -> Generator[Wait, set[Future[Any]], None]:
        r, sla = st.request, st.options.sla
        retry = RetryPolicy(
            max_attempts=sla.max_attempts or 1,
            retry_backoff_ms=sla.retry_backoff_ms or 0,
            jitter_ratio=sla.jitter_ratio or 0,
        )
        ticket, jobs = self.p._inprocess.submit(
            r.node_id,
            r.interval,
            ranges,
            partial_ok=st.options.partial_ok,
            retry=retry,
            request_id=st.request_id,
        )
        futures = frozenset(job.future for job in jobs)
        timeout, binding = st.deadline.timeout_s("backfill")
        t0 = time.perf_counter()
        done: set[Future[Any]] = yield Wait(futures, timeout)
        waited = (time.perf_counter() - t0) * 1000
        st.deadline.add("backfill", waited)
        self.p.metrics.backfill_wait(r.node_id, r.interval.name, waited)
        filled = RangeSet()
        failures: list[BaseException] = []
        for job in jobs:
            if job.future not in done:
                continue
            exc = job.future.exception()
            if exc is not None:
                failures.append(exc)
                continue
            result: FillResult = job.future.result()
            st.report = st.report.merge(result.report)
            st.deadline.retries += result.retries
            filled = filled.union(RangeSet.span(job.start, job.end))
        pending = RangeSet((j.start, j.end) for j in jobs if j.future not in done)
        st.backfill = st.backfill.add(ticket, synchronous=filled, detached=pending)
        self._raise_fill_failures(st, failures)
        if filled:
            # Read back what the fills committed: only covered bars are ever returned.
            coverage = self.p.store.coverage(r.node_id, r.interval)
            served = coverage.intersect(filled).intersect(st.remaining)
            if served:
                st.pieces.append(
                    (Source.BACKFILL.value, self._read_store(st, coverage, served, fresh=True))
                )
                st.contributions[Source.BACKFILL] = served
                st.remaining = st.remaining.subtract(served)
        if pending:
            st.deadline.timeouts += 1
            self._on_timeout(st, binding, pending)

    def _raise_fill_failures(self, st: ReadState, failures: list[BaseException]) -> None:
        for exc in failures:
            if isinstance(exc, ConformanceError):
                self.p.last_conformance_report = exc.report
                raise exc
        for exc in failures:
            if st.options.strategy is Strategy.AUTO_BACKFILL:
                raise exc
            st.notes.append(f"backfill failed: {exc}")
            if not isinstance(exc, FetchError):
                raise exc

    def _on_timeout(self, st: ReadState, phase: str, pending: RangeSet) -> None:
        elapsed = (
            st.deadline.total_elapsed_ms()
            if phase == "total"
            else (st.deadline.elapsed_ms.get(phase, 0.0))
        )
        budget = st.options.sla.budgets_ms().get(phase)
        self.p.metrics.sla_violation(phase)
        st.event(
            events.SLA,
            phase=phase,
            elapsed_ms=elapsed,
            budget_ms=budget,
        )
        if st.options.strategy is Strategy.AUTO_BACKFILL:
            raise SeamlessSLAExceeded(phase, budget, elapsed, report=sla_report(st, phase))
        st.deadline.violation = st.deadline.violation or phase
        st.notes.append(
            f"{phase} budget ran out while filling {pending.to_list()}: returned partial, "
            "the fill goes on in the background"
        )

    def _from_live(self, st: ReadState) -> Generator[Wait, set[Future[Any]], None]:
        r = st.request
        if self.p.live is None or st.options.strategy is not Strategy.SEAMLESS:
            return
        # The live source serves what storage cannot have yet: the part of the
        # request from the now edge on, the forming bar included.
        wanted = st.remaining.clip(max(r.start, st.edge), r.end)
        if not wanted:
            return
        start, end = wanted.start, wanted.end
        future: Future[Any] = Future()

        def run() -> None:
            try:
                future.set_result(call_fetcher(self.p.live, r.node_id, r.interval, start, end))  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the reader through the future
                future.set_exception(exc)

        threading.Thread(target=run, name="seamless-live", daemon=True).start()
        timeout, binding = st.deadline.timeout_s("live")
        t0 = time.perf_counter()
        done = yield Wait(frozenset([future]), timeout)
        st.deadline.add("live", (time.perf_counter() - t0) * 1000)
        if future not in done:
            st.deadline.timeouts += 1
            st.deadline.violation = st.deadline.violation or binding
            st.notes.append(f"live source did not answer within the {binding} budget")
            return
        if future.exception() is not None:
            st.notes.append(f"live source failed: {future.exception()!r}")
            return
        self._take_live(st, future.result(), wanted)

    def _take_live(self, st: ReadState, frame: Any, wanted: RangeSet) -> None:
        r = st.request
        result = conform_bars(
            frame,
            r.interval,
            wanted.start,  # type: ignore[arg-type]
            wanted.end,  # type: ignore[arg-type]
            flags=int(Flag.LIVE),
            node_id=r.node_id,
        )
        st.report = st.report.merge(result.report)
        if not result.report.ok and (not st.options.partial_ok or result.report.schema_errors):
            self.p.last_conformance_report = result.report
            raise ConformanceError(result.report)
        bars = Bars.from_frame(result.frame).rows_in(wanted)
        if not len(bars):
            return
        secs = bars.ts_seconds
        forming = secs >= st.edge
        if forming.any():
            bars = bars.with_flags(forming, int(Flag.PARTIAL_BAR))
        served = RangeSet((int(t), int(t) + r.interval.seconds) for t in secs)
        st.pieces.append((Source.LIVE.value, bars))
        st.contributions[Source.LIVE] = served
        st.remaining = st.remaining.subtract(served)
