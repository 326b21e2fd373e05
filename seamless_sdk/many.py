"""Reading a universe in one call: many reads driven together.

``read_many`` starts one engine run per node and drives them all at once:
their fills go to the same executor (concurrent, bounded by its workers),
their waits are one wait on every future any of them waits for, and they
share one deadline (every run counts from the call's start, and each
waiting run keeps back ``FINISH_S_PER_RUN`` per walking node for the driver
to finish them one after another). A node whose
read fails does not stop the others: the call finishes them all, then raises
:class:`~seamless_sdk.errors.ReadManyError` carrying every result and every
error, so no failure hides another node's data.

Nodes whose whole request is stored (or cached) take a batch path instead of
a walk each: the coverage of all of them in one query
(``stores.base.coverage_many``), then their bars in one batch read with
their coverage again (``stores.base.read_covered_many``; LocalStore: one
snapshot, three queries), which alone vouches for the bars served (a node
whose coverage shrank in between walks after all), then each node's answer
built by the same
code a walk ends in (the engine's cache phase and budget checks,
``answer.finish``), so frames, meta, metrics and log events are those of
``read``. Everything else walks: nodes with gaps (they may fetch or raise),
strict reads (their calendar check and ``last_conformance_report``), kill
switches, traced reads (a ``history.read`` span each), and reads whose
sources put anything but the cache before storage.
In the batch, each node's ``storage`` phase is the time of the coverage query
and of the batch read that served it (what it waited for storage), not a
per-node share of it: the storage budget and ``seamless_sla_deadline_seconds
{phase="storage"}`` see that time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from seamless_sdk import killswitch, tracing
from seamless_sdk.answer import ReadState, finish
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import ConformanceReport
from seamless_sdk.engine import ReadEngine, Wait, await_futures
from seamless_sdk.errors import ReadManyError
from seamless_sdk.frames import Bars, FrameMaker, assemble_many
from seamless_sdk.intervals import chunk_span
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import BarRequest
from seamless_sdk.result import BackfillReport, HistoryResult
from seamless_sdk.sla import Deadline
from seamless_sdk.stores.base import CoveredBars, coverage_many, read_covered_many
from seamless_sdk.strategy import Source

if TYPE_CHECKING:
    from seamless_sdk.provider import ReadOptions

Run = Generator[Wait, set[Future[Any]], HistoryResult]

FINISH_S_PER_RUN = 0.4e-3
"""Time each waiting read of a ``read_many`` keeps back from the total deadline
per walking read of the call: once the waits end, the driver finishes the
reads one after another (metrics, demoting the fill, the answer or its
error), measured 0.2-0.3 ms a read on two busy cores. Without it 200 nodes
whose fills outlast a 100 ms budget answered 40-130 ms late."""


class BatchFrames:
    """Defers the result frames of a batch of reads and builds them in one go
    (``frames.assemble_many``): each read's ``make_frame`` records its bars."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Bars, Sequence[tuple[str, Bars]], bool]] = {}

    def maker(self, node: str) -> FrameMaker:
        def record(bars: Bars, pieces: Sequence[tuple[str, Bars]], lineage: bool) -> pd.DataFrame:
            self._items[node] = (bars, list(pieces), lineage)
            return _PLACEHOLDER

        return record

    def apply(self, results: dict[str, HistoryResult]) -> dict[str, HistoryResult]:
        """``results`` with their real frames."""
        nodes = [n for n in results if n in self._items]
        by_lineage: dict[bool, list[str]] = {}
        for node in nodes:
            by_lineage.setdefault(self._items[node][2], []).append(node)
        frames: dict[str, pd.DataFrame] = {}
        for lineage, group in by_lineage.items():
            built = assemble_many([self._items[n][:2] for n in group], lineage)
            frames.update(zip(group, built, strict=True))
        return {n: HistoryResult(frames.get(n, r.df), r.meta) for n, r in results.items()}


_PLACEHOLDER = pd.DataFrame()


@dataclass
class _Waiting:
    run: Run
    wait: Wait
    expires: float | None

    def over(self, now: float) -> bool:
        return all(f.done() for f in self.wait.futures) or (
            self.expires is not None and now >= self.expires
        )


@dataclass(frozen=True, slots=True)
class ManyCall:
    """One ``read_many`` call as the provider starts it: the requests (node ->
    request, in the order asked), their options, the call's start (the one
    deadline), the deferred frames, and ``walk``, which starts one node's full
    walk through the engine (``BatchFrames``' maker, the same start)."""

    engine: ReadEngine
    requests: Mapping[str, BarRequest]
    options: ReadOptions
    started: float
    frames: BatchFrames
    walk: Callable[[BarRequest, float], Run]
    """One node's walk, keeping ``reserve_s`` back from its waits (``FINISH_S_PER_RUN``)."""


def batchable(options: ReadOptions) -> bool:
    """Whether reads with ``options`` may take the batch path at all: not
    strict, and nothing but the cache comes before storage in their sources."""
    prio = options.source_priority
    if options.strict or Source.STORAGE not in prio:
        return False
    return all(s is Source.CACHE for s in prio[: prio.index(Source.STORAGE)])


class _Batch:
    """The nodes of a call answered from one batch read, and the ones that walk."""

    def __init__(self, call: ManyCall) -> None:
        self.call = call
        self.walkers: list[str] = list(call.requests)
        self.fast: list[str] = []
        self.cover: dict[str, RangeSet] = {}
        self.cover_ms = 0.0
        first = next(iter(call.requests.values()), None)
        if first is None or first.start >= first.end or not batchable(call.options):
            return
        if killswitch.effective_strategy(call.options.strategy)[1] is not None:
            return  # the walk notes and logs the downgrade, per read
        if tracing.enabled():
            return  # each read is its own history.read span, made by the walk
        lo, hi = chunk_span(first.interval, first.start, first.end)
        t0 = time.perf_counter()
        try:
            self.cover = coverage_many(
                call.engine.parts.store, list(call.requests), first.interval, lo, hi
            )
        except Exception:  # every node walks and meets the error as its own read would
            return
        self.cover_ms = (time.perf_counter() - t0) * 1000
        self.fast = [n for n in call.requests if self.cover[n].covers(first.start, first.end)]
        fast = set(self.fast)
        self.walkers = [n for n in call.requests if n not in fast]

    def answer(
        self, results: dict[str, HistoryResult], errors: dict[str, BaseException]
    ) -> list[str]:
        """Answer the batch's nodes into ``results``/``errors``; return the nodes
        that must walk after all: those whose coverage shrank between the
        batch's coverage query and a read of their own (after a batch read
        failed). Only for them the cache lookup is made, and counted, twice."""
        if not self.fast:
            return []
        call, engine = self.call, self.call.engine
        parts, opts = engine.parts, call.options
        first = call.requests[self.fast[0]]
        edge = first.interval.now_edge(parts.clock())
        policy = FillPolicy.from_read(opts.sla, opts.partial_ok)
        no_backfill = BackfillReport()  # immutable: one serves every node
        prio = opts.source_priority
        cache_first = Source.CACHE in prio[: prio.index(Source.STORAGE)]
        whole = RangeSet.span(first.start, first.end)  # immutable: one serves every node
        states: dict[str, ReadState] = {}
        for node in self.fast:
            r = call.requests[node]
            st = ReadState(
                request=r,
                options=opts,
                request_id=uuid.uuid4().hex,
                deadline=Deadline(opts.sla, call.started),
                remaining=whole,
                pieces=[],
                contributions={},
                report=ConformanceReport.empty(),
                backfill=no_backfill,
                notes=[],
                edge=edge,
                policy=policy,
            )
            states[node] = st
            if cache_first:
                engine._from_cache(st)
        groups: dict[tuple[int, int], list[str]] = {}
        for node, st in states.items():
            # All of what remains is stored (a cache hit may have served part):
            # read its whole chunks, as the walk does, so the cache can keep them.
            lo, hi = st.remaining.start, st.remaining.end
            if lo is not None and hi is not None:
                groups.setdefault(chunk_span(first.interval, lo, hi), []).append(node)
        late: list[str] = []
        for span, nodes in groups.items():
            t0 = time.perf_counter()
            try:
                got: dict[str, CoveredBars] | None = read_covered_many(
                    parts.store, nodes, first.interval, *span
                )
            except Exception:  # damage in one series: each node reads alone, below
                got = None
            ms = self.cover_ms + (time.perf_counter() - t0) * 1000
            for node in nodes:
                st = states[node]
                try:
                    if got is None:
                        engine._from_storage(st)  # its own storage phase, its own error
                    else:
                        self._serve(st, got[node], span, ms)
                except Exception as exc:
                    errors[node] = exc
                    del states[node]
                    continue
                if st.remaining:
                    late.append(node)
                    del states[node]
        for node in list(states):
            st = states.pop(node)  # freed as soon as answered: less for the GC to walk
            try:
                # What the walk does once its sources are done.
                engine._check_budget(st, "total")
                engine._check_filled(st)
                results[node] = finish(st, parts.calendar, parts.metrics, call.frames.maker(node))
            except Exception as exc:
                errors[node] = exc
        return late

    def _serve(self, st: ReadState, got: CoveredBars, span: tuple[int, int], ms: float) -> None:
        """The engine's storage phase for one node, from the batch's read of ``span``.

        Only the coverage read with the bars vouches for them: the batch's
        coverage query chose the node, but another process may have removed
        coverage since, and then what it no longer covers stays remaining."""
        engine, r = self.call.engine, st.request
        served = got.coverage.intersect(st.remaining)
        if served:
            bars = got.bars
            cache = engine.parts.cache
            series = (r.node_id, r.interval.seconds)
            uses_cache = Source.CACHE in st.options.source_priority
            if uses_cache and cache.admit(series, *span):
                # The cache gets a copy of its own: the batch's block stays the
                # frames' alone and is not pinned by one cached node.
                copy = Bars(bars.wide.copy(), bars.flags.copy())
                cache.put(series, *span, copy, got.coverage)
            st.pieces.append((Source.STORAGE.value, bars.rows_in(served)))
            st.contributions[Source.STORAGE] = served
            st.remaining = st.remaining.subtract(served)
        st.deadline.add("storage", ms)
        # The walk checks the storage budget once the read is done; so does the batch.
        engine._check_budget(st, "storage")


class _Driver:
    """The bookkeeping shared by the sync and async drivers."""

    def __init__(self, call: ManyCall) -> None:
        self.frames = call.frames
        self.order = list(call.requests)
        self.waiting: dict[str, _Waiting] = {}
        self.results: dict[str, HistoryResult] = {}
        self.errors: dict[str, BaseException] = {}
        batch = _Batch(call)
        # Walks first, so their fetches are under way while the batch reads.
        reserve = FINISH_S_PER_RUN * len(batch.walkers)
        for node in batch.walkers:
            self._step(node, call.walk(call.requests[node], reserve), None)
        late = batch.answer(self.results, self.errors)
        reserve = FINISH_S_PER_RUN * (len(batch.walkers) + len(late))
        for node in late:
            self._step(node, call.walk(call.requests[node], reserve), None)

    def _step(self, node: str, run: Run, done: set[Future[Any]] | None) -> None:
        try:
            wait = next(run) if done is None else run.send(done)
        except StopIteration as stop:
            self.results[node] = stop.value
        except Exception as exc:  # one node's failure is reported, never hides the others
            self.errors[node] = exc
        else:
            expires = None if wait.timeout_s is None else time.perf_counter() + wait.timeout_s
            self.waiting[node] = _Waiting(run, wait, expires)

    def pending(self) -> tuple[set[Future[Any]], float | None]:
        """Every future still waited for, and how long until the first wait expires."""
        futures = {f for w in self.waiting.values() for f in w.wait.futures if not f.done()}
        expiries = [w.expires for w in self.waiting.values() if w.expires is not None]
        timeout = None if not expiries else max(0.0, min(expiries) - time.perf_counter())
        return futures, timeout

    def advance(self) -> None:
        """Resume every run whose wait is over."""
        now = time.perf_counter()
        for node, w in list(self.waiting.items()):
            if w.over(now):
                del self.waiting[node]
                self._step(node, w.run, {f for f in w.wait.futures if f.done()})

    def outcome(self) -> dict[str, HistoryResult]:
        """The results in the order the nodes were asked for, or ``ReadManyError``."""
        results = self.frames.apply({n: self.results[n] for n in self.order if n in self.results})
        if self.errors:
            raise ReadManyError(
                results, {n: self.errors[n] for n in self.order if n in self.errors}
            )
        return results


def drive_many(call: ManyCall) -> dict[str, HistoryResult]:
    """Run every read of ``call`` to its end, blocking this thread on their waits."""
    driver = _Driver(call)
    while driver.waiting:
        futures, timeout = driver.pending()
        if futures:
            wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        elif timeout:
            time.sleep(timeout)
        driver.advance()
    return driver.outcome()


async def adrive_many(call: ManyCall) -> dict[str, HistoryResult]:
    """Run every read of ``call`` to its end, waiting on the running event loop."""
    driver = _Driver(call)
    while driver.waiting:
        futures, timeout = driver.pending()
        if futures:
            await await_futures(futures, timeout, first=True)
        elif timeout:
            await asyncio.sleep(timeout)
        driver.advance()
    return driver.outcome()
