"""The read engine: one request's walk through the sources.

``ReadEngine.run`` is a generator. It does all the planning and bookkeeping
itself and *yields* a :class:`Wait` whenever it must wait for fills or the
live source; the provider's sync driver blocks on it, its async driver awaits
it. So ``read`` and ``aread`` share every rule, and a wait is the only place
where a deadline can cut a request short.

The engine holds the collaborators it uses (:class:`ReadParts`), not the
provider, and every fill it causes gets the one :class:`FillPolicy` built
from the read's options.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Collection, Generator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from seamless_sdk import events, killswitch, tracing
from seamless_sdk.answer import ReadState, budget_ran_out, finish
from seamless_sdk.backfill.base import DetachedBackfiller
from seamless_sdk.backfill.fill import call_fetcher
from seamless_sdk.backfill.inprocess import FillJob, InProcessBackfiller, JobResult
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.cache import BarCache
from seamless_sdk.calendars import Calendar
from seamless_sdk.conformance import ConformanceReport, Flag, conform_bars
from seamless_sdk.errors import (
    ConformanceError,
    DataUnavailableError,
    FetchError,
)
from seamless_sdk.frames import Bars, FrameMaker, assemble
from seamless_sdk.gaps import split_gaps
from seamless_sdk.intervals import chunk_span
from seamless_sdk.live.edge import MAX_LIVE_FETCHES, LiveFetches
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import BarRequest, describe
from seamless_sdk.result import BackfillReport, HistoryResult
from seamless_sdk.sla import Deadline
from seamless_sdk.stores.base import BarStore, CoveredBars, read_covered
from seamless_sdk.strategy import Source, Strategy

if TYPE_CHECKING:
    from seamless_sdk.provider import ReadOptions

ASSEMBLY_S_PER_ROW = 0.5e-6
"""Time a wait for a fill keeps back per bar the fill committed, to read those bars
back and build a partial answer (measured 0.4-0.7 µs a bar on two busy cores),
so a read that stops waiting still answers by its deadline. AUTO_BACKFILL keeps
nothing back: it raises rather than answer partially."""
ASSEMBLY_S_PER_HELD_ROW = (0.004e-6, 0.016e-6)
"""The same, per bar the read already holds (from storage or the cache), which
is only joined to the rest in the answer, without and with lineage (whose
``source`` column labels every bar): measured a year of stored 1m bars (525,600)
answering 2 ms and 7 ms past a deadline with nothing kept back for them."""
WAIT_SLICE_S = 0.05
"""A bounded wait re-checks that reserve this often as the fill commits bars."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait for ``futures`` for at most ``timeout_s`` seconds (None = no limit)."""

    futures: frozenset[Future[Any]]
    timeout_s: float | None


async def await_futures(
    futures: Collection[Future[Any]], timeout_s: float | None, *, first: bool = False
) -> set[Future[Any]]:
    """Await ``futures`` on the running event loop for at most ``timeout_s``
    (all of them, or with ``first`` the first to finish); the ones done.

    asyncio waits on wrappers of the futures, and a wrapper outlives a wait
    that its timeout or a cancelled task cut short. Whoever waits reads the
    outcome from the future itself, never from the wrapper, so each wrapper's
    exception is retrieved here when it arrives: otherwise asyncio logs "Future
    exception was never retrieved" for, say, a live fetch that failed after
    the read waiting for it was cancelled.
    """
    wrapped = {asyncio.wrap_future(f): f for f in futures}
    for w in wrapped:
        w.add_done_callback(_retrieve)
    when = asyncio.FIRST_COMPLETED if first else asyncio.ALL_COMPLETED
    done, _ = await asyncio.wait(wrapped, timeout=timeout_s, return_when=when)
    return {wrapped[w] for w in done}


def _retrieve(wrapper: asyncio.Future[Any]) -> None:
    if not wrapper.cancelled():
        wrapper.exception()


@dataclass(frozen=True, slots=True)
class ReadParts:
    """What a read uses: where bars are, where they come from, and what observes it.

    ``fills`` runs the fills a read waits for; ``detached`` takes the gaps it
    does not wait for (the same in-process backfiller, or a Dagster one).
    """

    store: BarStore
    fetcher: Any
    live: Any
    cache: BarCache
    fills: InProcessBackfiller
    detached: DetachedBackfiller
    metrics: Metrics
    clock: Callable[[], float]
    calendar: Callable[[str], Calendar]


class ReadEngine:
    """Plans and runs reads over one set of :class:`ReadParts`."""

    def __init__(self, parts: ReadParts) -> None:
        self.parts = parts
        self.live_fetches = LiveFetches()

    def run(
        self,
        request: BarRequest,
        options: ReadOptions,
        *,
        want_frame: bool,
        started: float | None = None,
        make_frame: FrameMaker = assemble,
        reserve_s: float = 0.0,
    ) -> Generator[Wait, set[Future[Any]], HistoryResult]:
        """One read; ``started`` (a ``perf_counter`` time) shares one deadline
        between the reads of one ``read_many`` call, whose ``make_frame`` builds
        all their frames at once and whose ``reserve_s`` is kept back from the
        total deadline's waits (``Deadline.reserve_s``)."""
        begun = time.perf_counter() if started is None else started
        deadline = Deadline(options.sla, begun, reserve_s=reserve_s)
        # Kill switches are read per request: an operator's flip needs no restart.
        strategy, switch = killswitch.effective_strategy(options.strategy)
        if switch is not None:
            options = replace(options, strategy=strategy)
        request_id = uuid.uuid4().hex
        # The read's span (a no-op without a tracer provider); its context rides in
        # the fill policy to every fill this read causes, on any thread or host.
        span = tracing.start(
            tracing.HISTORY_READ,
            baggage={tracing.REQUEST_ID_BAGGAGE: request_id},
            request_id=request_id,
            node_id=request.node_id,
            interval=request.interval,
            start=request.start,
            end=request.end,
            strategy=options.strategy,
            strict=options.strict,
        )
        st = ReadState(
            request=request,
            options=options,
            request_id=request_id,
            deadline=deadline,
            remaining=RangeSet.span(request.start, request.end),
            pieces=[],
            contributions={},
            report=ConformanceReport.empty(),
            backfill=BackfillReport(),
            notes=[],
            edge=request.interval.now_edge(self.parts.clock()),
            policy=FillPolicy.from_read(
                options.sla, options.partial_ok, trace_context=span.context
            ),
            trace_id=span.trace_id,
        )
        walk = self._walk(st, switch, make_frame if want_frame else None)
        if span.recording:
            walk = tracing.steps(span, walk)
        return (yield from walk)

    def _walk(
        self, st: ReadState, switch: str | None, make_frame: FrameMaker | None
    ) -> Generator[Wait, set[Future[Any]], HistoryResult]:
        """The read itself: the sources in priority order, then the answer."""
        options, strategy = st.options, st.options.strategy
        if switch is not None:
            st.notes.append(f"{switch} is set: read as fail_fast, nothing is fetched")
            st.event(events.SLA_DOWNGRADE, reason=switch, strategy=strategy.value)
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
        self._check_budget(st, "total")
        self._check_filled(st)
        return finish(st, self.parts.calendar, self.parts.metrics, make_frame)

    # -- sources ---------------------------------------------------------------
    def _from_cache(self, st: ReadState) -> None:
        t0 = time.perf_counter()
        r = st.request
        entry = self.parts.cache.lookup((r.node_id, r.interval.seconds), r.start, r.end)
        served = entry.covered.intersect(st.remaining) if entry is not None else RangeSet()
        if served:
            self.parts.metrics.cache_hit()
            st.pieces.append((Source.CACHE.value, entry.bars.rows_in(served)))  # type: ignore[union-attr]
            st.contributions[Source.CACHE] = served
            st.remaining = st.remaining.subtract(served)
        else:
            self.parts.metrics.cache_miss()
        st.deadline.add("cache", (time.perf_counter() - t0) * 1000)

    def _from_storage(self, st: ReadState) -> None:
        t0 = time.perf_counter()
        r = st.request
        if st.remaining:
            # The request's bounds are on the parent history.read span already.
            with _child_span(st, tracing.COVERAGE_COMPUTE, node_id=r.node_id) as span:
                got, window = self._read_store(st, st.remaining)
                served = got.coverage.intersect(st.remaining)
                if span.recording:
                    left = st.remaining.subtract(served)
                    span.set(missing_count=left.total() // r.interval.seconds)
            if served:
                st.pieces.append((Source.STORAGE.value, self._keep(st, got, window, served)))
                st.contributions[Source.STORAGE] = served
                st.remaining = st.remaining.subtract(served)
        st.deadline.add("storage", (time.perf_counter() - t0) * 1000)
        # A SQLite read cannot be interrupted (it takes about a millisecond), so
        # the storage budget is checked once the read is done.
        self._check_budget(st, "storage")

    def _read_store(self, st: ReadState, wanted: RangeSet) -> tuple[CoveredBars, tuple[int, int]]:
        """The coverage and bars of the whole chunks ``wanted`` touches, from one
        snapshot, and that window. Coverage read apart from the bars could
        straddle another process's ``remove_coverage`` and vouch for bars the
        read no longer finds."""
        r = st.request
        window = chunk_span(r.interval, wanted.start, wanted.end)  # type: ignore[arg-type]
        return read_covered(self.parts.store, r.node_id, r.interval, *window), window

    def _keep(
        self, st: ReadState, got: CoveredBars, window: tuple[int, int], served: RangeSet,
        *, fresh: bool = False,
    ) -> Bars:  # fmt: skip
        """The bars of ``served`` from ``got``, which the cache may keep."""
        r = st.request
        bars = got.bars
        series = (r.node_id, r.interval.seconds)
        cache = self.parts.cache
        # Bars just backfilled are cached at once: the caller is likely to ask again.
        uses_cache = Source.CACHE in st.options.source_priority
        if uses_cache and (fresh or cache.admit(series, *window)):
            bars = bars.as_shared()
            cache.put(series, *window, bars, got.coverage)
        return bars.rows_in(served)

    def _from_backfill(self, st: ReadState) -> Generator[Wait, set[Future[Any]], None]:
        r = st.request
        if st.options.strategy is Strategy.FAIL_FAST:
            return
        if killswitch.backfill_disabled():
            st.notes.append("DISABLE_BACKFILL is set: gaps are returned missing, not filled")
            return
        if self.parts.fetcher is None:
            st.notes.append("no fetcher configured: gaps cannot be backfilled")
            return
        if st.edge <= r.start:
            return  # the whole request is past the now edge: nothing is closed yet
        fillable = st.remaining.clip(r.start, min(r.end, st.edge))
        if not fillable:
            return
        split = split_gaps(
            st.options.strategy, fillable, r.interval.seconds, st.options.sla.max_sync_gap_bars
        )
        for s, e, bars in split.downgraded:
            st.notes.append(
                f"gap [{s}, {e}) of {bars} bars exceeds max_sync_gap_bars="
                f"{st.options.sla.max_sync_gap_bars}: detached, returned partial"
            )
            st.event(
                events.SLA_DOWNGRADE,
                start=s,
                end=e,
                reason="sync_gap",
                bars=bars,
                source="backfill",
            )
        if split.detached:
            with self._claim(st, split.detached, detached=True) as claim:
                if self.parts.detached is self.parts.fills:
                    # In process: the job's log events can name this read.
                    ticket, _ = self.parts.fills.submit(
                        r.node_id, r.interval, split.detached, policy=st.policy,
                        request_id=st.request_id,
                    )  # fmt: skip
                else:
                    ticket = self.parts.detached.request(
                        r.node_id, r.interval, split.detached, policy=st.policy
                    )
                claim.set(joined=bool(ticket.attached), runs=len(ticket.run_ids))
            st.backfill = st.backfill.add(ticket, detached=split.detached)
        if split.sync:
            yield from self._fill_now(st, split.sync)

    def _fill_now(self, st: ReadState, ranges: RangeSet) -> Generator[Wait, set[Future[Any]], None]:
        r, parts = st.request, self.parts
        with self._claim(st, ranges, detached=False) as claim:
            ticket, job = parts.fills.submit(
                r.node_id, r.interval, ranges, policy=st.policy, request_id=st.request_id,
                urgent=True,
            )  # fmt: skip
            claim.set(joined=bool(ticket.attached))
        finished, binding = yield from self._wait_for(st, job)
        if not finished:
            parts.fills.demote(job)
        result: JobResult = job.future.result() if finished else job.result()
        st.report = st.report.merge(result.report)
        st.deadline.retries += result.retries
        if not finished and st.options.strategy is Strategy.AUTO_BACKFILL:
            st.deadline.timeouts += 1
            self._budget_ran_out(st, binding, "")  # raises: nothing to assemble
        # Coverage is the truth of what the fills committed (this job's or a
        # concurrent one's): only covered bars are ever returned.
        got, window = self._read_store(st, ranges)
        coverage = got.coverage
        served = coverage.intersect(ranges).intersect(st.remaining)
        pending = RangeSet() if finished else ranges.subtract(coverage).subtract(result.failed)
        st.backfill = st.backfill.add(ticket, synchronous=served, detached=pending)
        if finished:
            self._raise_fill_failures(st, result)
        if served:
            st.pieces.append(
                (Source.BACKFILL.value, self._keep(st, got, window, served, fresh=True))
            )
            st.contributions[Source.BACKFILL] = served
            st.remaining = st.remaining.subtract(served)
        if not finished:
            st.deadline.timeouts += 1
            self._budget_ran_out(
                st,
                binding,
                f"{binding} budget ran out while filling {pending.to_list()}: returned partial, "
                "the fill goes on in the background",
            )

    def _claim(self, st: ReadState, ranges: RangeSet, *, detached: bool) -> Any:
        """The ``backfill.claim`` span of handing ``ranges`` to a backfiller."""
        r = st.request
        backfiller = self.parts.detached if detached else self.parts.fills
        return _child_span(
            st,
            tracing.BACKFILL_CLAIM,
            request_id=st.request_id,
            node_id=r.node_id,
            interval=r.interval,
            start=ranges.start,
            end=ranges.end,
            strategy=st.options.strategy,
            missing_count=ranges.total() // r.interval.seconds,
            detached=detached,
            backfiller=type(backfiller).__name__,
        )

    def _wait_for(
        self, st: ReadState, job: FillJob
    ) -> Generator[Wait, set[Future[Any]], tuple[bool, str]]:
        """Wait for ``job`` within the backfill and total budgets, keeping back the
        time needed to turn what it committed into the answer; returns whether it
        finished and which budget binds."""
        r = st.request
        partial = st.options.strategy is not Strategy.AUTO_BACKFILL
        per_row = ASSEMBLY_S_PER_ROW if partial else 0.0
        per_held = ASSEMBLY_S_PER_HELD_ROW[st.options.lineage] if partial else 0.0
        held_s = sum(len(b) for _, b in st.pieces) * per_held
        timeout, binding = st.deadline.timeout_s("backfill")
        t0 = time.perf_counter()
        # One absolute deadline: slices must not drift by their own overhead.
        until = None if timeout is None else t0 + timeout
        finished = False
        while True:
            wait_s = None
            if until is not None:
                wait_s = until - time.perf_counter() - job.rows * per_row - held_s
                if wait_s <= 0:
                    finished = job.future.done()
                    break
                wait_s = min(wait_s, WAIT_SLICE_S)
            done = yield Wait(frozenset([job.future]), wait_s)
            if job.future in done:
                finished = True
                break
            if wait_s is None:
                break
        waited = (time.perf_counter() - t0) * 1000
        st.deadline.add("backfill", waited)
        self.parts.metrics.backfill_wait(r.node_id, r.interval.name, waited)
        return finished, binding

    def _raise_fill_failures(self, st: ReadState, result: JobResult) -> None:
        if result.conformance_error is not None:
            raise result.conformance_error
        for exc in result.failures:
            if st.options.strategy is Strategy.AUTO_BACKFILL or not isinstance(exc, FetchError):
                raise exc
        if result.failure_count:
            first = result.failures[0] if result.failures else None
            st.notes.append(
                f"backfill failed for {result.failed.to_list()} "
                f"({result.failure_count} window(s)): {first}"
            )

    def _check_filled(self, st: ReadState) -> None:
        """An AUTO_BACKFILL read promises every closed bar and must not answer
        partial: closed bars it could not even try to fill raise
        ``DataUnavailableError`` (DISABLE_BACKFILL stopped the fill, no fetcher
        is configured, or ``source_priority`` leaves backfill out). Bars a fill
        fetched and conformance rejected are missing only with ``partial_ok``
        (without it the fill raised)."""
        r = st.request
        closed_end = min(r.end, st.edge)
        if st.options.strategy is not Strategy.AUTO_BACKFILL or closed_end <= r.start:
            return
        unfilled = st.remaining.clip(r.start, closed_end)
        if not unfilled:
            return
        if killswitch.backfill_disabled():
            why = "DISABLE_BACKFILL stopped the fill"
        elif self.parts.fetcher is None:
            why = "AUTO_BACKFILL cannot fill: no fetcher is configured"
        elif Source.BACKFILL not in st.options.source_priority:
            why = "AUTO_BACKFILL cannot fill: source_priority leaves out backfill"
        else:
            return  # filled: what is left is bars conformance rejected (partial_ok)
        raise DataUnavailableError(unfilled, f"{why}; missing {unfilled.to_list()}")

    def _check_budget(self, st: ReadState, phase: str) -> None:
        """After ``phase``: act on a budget that has run out (its own or the total)."""
        over = st.deadline.overrun(phase)
        # Only the first budget that runs out is acted on (AUTO_BACKFILL has raised).
        if over is not None and st.deadline.violation is None:
            self._budget_ran_out(st, over[0], f"{over[0]} budget ran out after the {phase} phase")

    def _budget_ran_out(self, st: ReadState, budget: str, note: str) -> None:
        budget_ran_out(st, self.parts.metrics, budget, note)

    def _from_live(self, st: ReadState) -> Generator[Wait, set[Future[Any]], None]:
        r, live = st.request, self.parts.live
        # A push-only feed (no fetch) serves streams, not the edge of a read.
        if (
            not callable(getattr(live, "fetch", None))
            or st.options.strategy is not Strategy.SEAMLESS
        ):
            return
        # The live source serves what storage cannot have yet: the bar forming
        # at the now edge. Later bars have not opened; they stay missing, even
        # if the source answers for them.
        wanted = st.remaining.clip(max(r.start, st.edge), min(r.end, st.edge + r.interval.seconds))
        if not wanted:
            return
        start, end = wanted.start, wanted.end
        parent = tracing.current_context()  # the thread starts with an empty context

        def fetch() -> Any:
            with tracing.span(
                tracing.DATASOURCE_READ, parent=parent, source="live", node_id=r.node_id,
                interval=r.interval, start=start, end=end, request_id=st.request_id,
            ):  # fmt: skip
                return call_fetcher(live, r.node_id, r.interval, start, end)  # type: ignore[arg-type]

        future = self.live_fetches.start((r.node_id, r.interval.seconds, start, end), fetch)
        if future is None:
            st.notes.append(
                f"live source busy: {MAX_LIVE_FETCHES} fetches in flight, the forming bar "
                "is left missing"
            )
            return
        timeout, binding = st.deadline.timeout_s("live")
        t0 = time.perf_counter()
        done = yield Wait(frozenset([future]), timeout)
        st.deadline.add("live", (time.perf_counter() - t0) * 1000)
        if future not in done:
            st.deadline.timeouts += 1
            note = f"live source did not answer within the {binding} budget"
            self._budget_ran_out(st, binding, note)
            return
        if future.exception() is not None:
            st.notes.append(f"live source failed: {describe(future.exception())}")
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
            raise ConformanceError(result.report)
        bars = result.stored_bars().rows_in(wanted)
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


def _child_span(st: ReadState, name: str, **attributes: Any) -> Any:
    """A span inside the read's ``history.read``; none at all, without even looking
    up the tracer provider, when the read is not traced (a stored read stays as fast)."""
    if st.trace_id is None:
        return tracing.OFF
    return tracing.span(name, **attributes)
