"""In-process backfilling: gap jobs on worker threads, single flight per gap.

A *job* is one gap (a RangeSet of one node and interval) and the policy of
the read that asked for it. It walks the gap's store-chunk windows lazily,
one :func:`fill_window` call at a time, so planning costs the same for a
minute and for a century of 1s bars (876,000 hourly chunks are never
listed). Workers take one window at a time from the jobs in turn:

- *urgent* jobs (a read is waiting for them) go first; jobs a read no longer
  waits for (detached gaps, or a synchronous fill whose deadline ran out and
  that was demoted) share what is left, and never more than ``workers - 1``
  threads, so a synchronous fill never queues behind a slow background fetch;
  a thread stuck in a demoted window (a fetch that hangs) stops counting
  against ``workers``, so urgent fills get another thread (up to
  ``MAX_ABANDONED_THREADS`` more) instead of waiting for it;
- a second request for exactly the same gap and policy joins the job in
  flight; gaps that merely overlap meet at the store's chunk lock (or, with a
  coordinator, at its claim of the chunk), where :func:`fill_window` re-reads
  coverage and skips what the other job filled, so a window is fetched once
  across threads and processes (and, with a coordinator, hosts) alike.

Jobs run on threads rather than on the caller's event loop so that an SLA
deadline can stop *waiting* for a fetcher that hangs without killing the
fill. Worker threads start on demand and exit when idle for ``idle_s``, and
nothing here holds the provider alive, so a provider dropped without
``close()`` leaves no thread behind.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seamless_sdk import killswitch, tracing
from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.backfill.fill import FillResult, fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import ConformanceReport
from seamless_sdk.errors import ConformanceError, ProviderClosedError
from seamless_sdk.intervals import Interval, iter_windows
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

if TYPE_CHECKING:
    from seamless_sdk.coordination.base import Coordinator

MAX_ABANDONED_THREADS = 8
"""Threads an executor may add beyond ``workers`` while its own are stuck in
windows nobody waits for any more (a deadline gave up on a fetch that hangs):
urgent fills get threads of their own instead of queueing behind them, and a
fetcher that hangs every call cannot make the threads grow without bound."""

MAX_KEPT_FAILURES = 8
"""Failures a job keeps (the count is exact): a century-long gap whose fetcher
always fails must not hold a million exceptions."""

JobKey = tuple[str, int, tuple[tuple[int, int], ...], FillPolicy]


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a gap job did: ``filled`` is the coverage its windows added, ``failed``
    the windows whose fill raised (the first ``MAX_KEPT_FAILURES`` exceptions are in
    ``failures``)."""

    filled: RangeSet
    failed: RangeSet
    failures: tuple[BaseException, ...]
    failure_count: int
    report: ConformanceReport
    rows: int
    retries: int

    @property
    def conformance_error(self) -> ConformanceError | None:
        """The first window rejected as non-conformant, if any."""
        return next((f for f in self.failures if isinstance(f, ConformanceError)), None)


@dataclass(eq=False)
class FillJob:
    """One gap to fill, the windows still to walk, and the future its waiters share."""

    job_id: str
    node_id: str
    interval: Interval
    ranges: RangeSet
    policy: FillPolicy
    request_id: str
    urgent: bool
    future: Future[JobResult] = field(default_factory=Future)
    _windows: Iterator[tuple[int, int]] = field(init=False, repr=False)
    _active: int = 0
    _urgent_active: int = 0  # of _active, the windows taken while the job was urgent
    _exhausted: bool = False
    _filled: RangeSet = field(default_factory=RangeSet)
    _failed: RangeSet = field(default_factory=RangeSet)
    _failures: list[BaseException] = field(default_factory=list)
    _failure_count: int = 0
    _report: ConformanceReport = field(default_factory=ConformanceReport.empty)
    _rows: int = 0
    _retries: int = 0  # counted as each retry starts (_retried), in-flight windows' too
    _done_s: int = 0  # seconds of the job's windows filled or found filled
    # Submission time, for seamless_backfill_duration_seconds.
    _created: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        unit = self.interval.chunk_unit
        self._windows = (w for s, e in self.ranges for w in iter_windows(s, e, unit))

    @property
    def rows(self) -> int:
        """Bars committed so far (read without the lock: an int read is atomic)."""
        return self._rows

    @property
    def key(self) -> JobKey:
        return (self.node_id, self.interval.seconds, tuple(self.ranges), self.policy)

    def result(self) -> JobResult:
        """What the job has done so far (all of it once ``future`` is done)."""
        return JobResult(
            filled=self._filled,
            failed=self._failed,
            failures=tuple(self._failures),
            failure_count=self._failure_count,
            report=self._report,
            rows=self._rows,
            retries=self._retries,
        )

    # Called by the executor with its lock held.
    def _next_window(self) -> tuple[int, int] | None:
        if self._exhausted:
            return None
        window = next(self._windows, None)
        if window is None:
            self._exhausted = True
        return window

    def _record(self, start: int, end: int, outcome: FillResult | BaseException) -> None:
        if isinstance(outcome, BaseException):
            self._failed = self._failed.union(RangeSet.span(start, end))
            self._failure_count += 1
            if len(self._failures) < MAX_KEPT_FAILURES:
                self._failures.append(outcome)
            if isinstance(outcome, ConformanceError):
                self._report = self._report.merge(outcome.report)
            return
        self._filled = self._filled.union(outcome.covered)
        self._report = self._report.merge(outcome.report)
        self._rows += outcome.rows
        self._done_s += end - start

    @property
    def completion(self) -> float:
        """The share of the job's windows done (filled, or found filled): its
        ``backfill_completion_ratio``. A failed window never counts."""
        return min(1.0, self._done_s / max(1, self.ranges.total()))


class FillExecutor:
    """Runs gap jobs on up to ``workers`` threads, one window at a time."""

    def __init__(
        self,
        store: BarStore,
        fetcher: Any,
        *,
        workers: int = 2,
        metrics: Metrics | None = None,
        on_commit: Callable[[FillResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        idle_s: float = 2.0,
        coordinator: Coordinator | None = None,
    ) -> None:
        self._store = store
        # Fills claim chunks from it instead of the store's window_lock (multi-host).
        self._coordinator = coordinator
        self._fetcher = fetcher
        self._metrics = metrics
        self._on_commit = on_commit
        self._clock = clock
        self._workers = max(1, workers)
        self._idle_s = idle_s
        self._cond = threading.Condition()
        self._urgent: deque[FillJob] = deque()
        self._background: deque[FillJob] = deque()
        self._inflight: dict[JobKey, FillJob] = {}
        self._threads: set[threading.Thread] = set()
        self._idle = 0
        self._background_active = 0
        self._cancel = threading.Event()
        self._closed = False
        self._ids = itertools.count(1)

    @property
    def threads(self) -> int:
        """Worker threads alive now (they exit when idle)."""
        with self._cond:
            return len(self._threads)

    def submit(
        self,
        node_id: str,
        interval: Interval,
        ranges: RangeSet,
        *,
        policy: FillPolicy,
        request_id: str = "",
        urgent: bool = False,
    ) -> tuple[FillJob, bool]:
        """Queue a fill of ``ranges``; returns the job and whether an identical job
        was already in flight (joined rather than started). Joining an urgent
        request to a background job makes the job urgent."""
        job = FillJob(
            job_id=f"inproc-{next(self._ids)}",
            node_id=node_id,
            interval=interval,
            ranges=ranges,
            policy=policy,
            request_id=request_id,
            urgent=urgent,
        )
        with self._cond:
            if self._closed:
                raise ProviderClosedError("the backfiller is closed")
            running = self._inflight.get(job.key)
            if running is not None:
                if urgent and not running.urgent:
                    self._move(running, urgent=True)
                if self._metrics is not None:
                    self._metrics.single_flight_collision(interval.name)
                return running, True
            self._inflight[job.key] = job
            (self._urgent if urgent else self._background).append(job)
            self._start_worker_if_needed(job.job_id)
            self._cond.notify()
        if self._metrics is not None:
            self._metrics.backfill_started(node_id, interval.name)
        return job, False

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job is queued or running; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._inflight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def demote(self, job: FillJob) -> None:
        """Nobody waits for ``job`` any more: it yields to urgent jobs from now on
        (and the threads in its windows stop counting against ``workers``)."""
        with self._cond:
            if job.urgent and self._inflight.get(job.key) is job:
                self._move(job, urgent=False)
                if self._urgent:
                    self._start_worker_if_needed(job.job_id)

    def _start_worker_if_needed(self, name: str) -> None:
        """With the lock held: start a worker if none is idle and the threads not
        stuck in abandoned windows are fewer than ``workers``."""
        if self._idle:
            return
        abandoned = sum(j._urgent_active for j in self._inflight.values() if not j.urgent)
        working = len(self._threads) - abandoned
        if working < self._workers and len(self._threads) < self._workers + MAX_ABANDONED_THREADS:
            thread = threading.Thread(target=self._work, name=f"seamless-fill-{name}", daemon=True)
            self._threads.add(thread)
            thread.start()

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop taking work and wait up to ``timeout`` seconds for the windows being
        filled to commit or fail (a fetcher that hangs longer is abandoned on its
        daemon thread; it holds no transaction open). Jobs not finished by then
        fail with ``ProviderClosedError``."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cancel.set()
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            if thread is threading.current_thread():
                continue  # closed from a fill's own commit hook, or by the GC on this thread
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        with self._cond:
            unfinished = list(self._inflight.values())
            self._inflight.clear()
            self._urgent.clear()
            self._background.clear()
        for job in unfinished:
            self._resolve(job, ProviderClosedError("closed before the fill finished"))

    # -- workers -----------------------------------------------------------------
    def _move(self, job: FillJob, *, urgent: bool) -> None:
        source, target = (
            (self._background, self._urgent) if urgent else (self._urgent, self._background)
        )
        if job in source:
            source.remove(job)
            target.append(job)
        job.urgent = urgent

    def _take(self) -> tuple[FillJob, int, int, bool] | None:
        """The next window to fill and whether it is background work, or None when
        this worker should exit (closed, or idle for ``idle_s``)."""
        with self._cond:
            while not self._closed:
                task = self._pick(self._urgent)
                if task is not None:
                    return (*task, False)
                if self._workers == 1 or self._background_active < self._workers - 1:
                    task = self._pick(self._background)
                    if task is not None:
                        self._background_active += 1
                        return (*task, True)
                self._idle += 1
                woke = self._cond.wait(self._idle_s)
                self._idle -= 1
                if not woke and not self._urgent and not self._background:
                    break
            self._threads.discard(threading.current_thread())
            return None

    def _pick(self, jobs: deque[FillJob]) -> tuple[FillJob, int, int] | None:
        if jobs and killswitch.backfill_disabled():
            # The operator stopped backfills: hand out no further window. Windows
            # being filled finish and commit; each job resolves with what it did.
            for job in jobs:
                job._exhausted = True
        while jobs:
            job = jobs[0]
            window = job._next_window()
            if window is None:
                jobs.popleft()  # every window handed out; it completes when they finish
                self._complete_if_done(job)
                continue
            jobs.rotate(-1)  # round robin between jobs of the same class
            job._active += 1
            job._urgent_active += job.urgent
            return job, window[0], window[1]
        return None

    def _work(self) -> None:
        while True:
            task = self._take()
            if task is None:
                return
            job, start, end, background = task
            outcome: FillResult | BaseException
            try:
                outcome = self._fill(job, start, end)
            except BaseException as exc:  # recorded on the job, surfaced to its waiters
                outcome = exc
            with self._cond:
                if background:
                    self._background_active -= 1
                else:
                    job._urgent_active -= 1
                job._record(start, end, outcome)
                if self._metrics is not None and not isinstance(outcome, BaseException):
                    # The job's share, not the window's: each window is one
                    # fill_window call, whose own share is always all of it.
                    self._metrics.backfill_progress(job.node_id, job.interval.name, job.completion)
                job._active -= 1
                self._complete_if_done(job)
                # Wake other workers (a background slot is free) and wait_idle callers.
                self._cond.notify_all()

    def _fill(self, job: FillJob, start: int, end: int) -> FillResult:
        if self._cancel.is_set():
            raise ProviderClosedError("closed before the fill started")
        # On this worker thread the read's span is not current: the job's policy
        # carries its context, so the window's fill is still the read's child.
        with tracing.span(
            tracing.BACKFILL_RUN,
            parent=job.policy.trace_context,
            request_id=job.request_id or None,
            node_id=job.node_id,
            interval=job.interval,
            start=start,
            end=end,
            source="backfill",
            job_id=job.job_id,
            urgent=job.urgent,
        ) as span:
            result = fill_window(
                self._store,
                self._fetcher,
                job.node_id,
                job.interval,
                start,
                end,
                policy=job.policy,
                metrics=self._metrics,
                request_id=job.request_id,
                cancel=self._cancel,
                now=self._clock(),
                fingerprint=False,
                coordinator=self._coordinator,
                completion=False,  # the job's share is set as each window ends (_work)
                on_retry=lambda: self._retried(job),
            )
            span.set(rows=result.rows, skipped=result.skipped, attempts=result.attempts)
        if self._on_commit is not None and not result.skipped:
            self._on_commit(result)
        return result

    def _retried(self, job: FillJob) -> None:
        """A fetch of ``job`` is retried: counted at once, so a read whose deadline
        cuts the job short reports the retries of its windows still in flight."""
        with self._cond:
            job._retries += 1

    def _complete_if_done(self, job: FillJob) -> None:
        """With the lock held: resolve ``job`` once every window is handed out and back."""
        if not job._exhausted or job._active or self._inflight.get(job.key) is not job:
            return
        del self._inflight[job.key]
        self._cond.notify_all()  # wait_idle callers
        self._resolve(job, job.result())

    def _resolve(self, job: FillJob, outcome: JobResult | BaseException) -> None:
        if job.future.done():
            return
        if self._metrics is not None:
            self._metrics.backfill_finished(
                job.node_id,
                job.interval.name,
                time.perf_counter() - job._created,
                ok=not isinstance(outcome, BaseException) and outcome.failure_count == 0,
            )
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)


class InProcessBackfiller:
    """The default detached backfiller: background gap jobs on the provider's executor."""

    def __init__(self, executor: FillExecutor) -> None:
        self._executor = executor

    def request(
        self, node_id: str, interval: Interval, ranges: RangeSet, *, policy: FillPolicy
    ) -> BackfillTicket:
        """Queue a background job for ``ranges``; returns at once."""
        return self.submit(node_id, interval, ranges, policy=policy)[0]

    def submit(
        self,
        node_id: str,
        interval: Interval,
        ranges: RangeSet,
        *,
        policy: FillPolicy,
        request_id: str = "",
        urgent: bool = False,
    ) -> tuple[BackfillTicket, FillJob]:
        """Like :meth:`request`, also returning the job so a caller may wait on it."""
        job, joined = self._executor.submit(
            node_id, interval, ranges, policy=policy, request_id=request_id, urgent=urgent
        )
        ticket = BackfillTicket(
            requested=ranges,
            attached=ranges if joined else RangeSet(),
            run_ids=(job.job_id,),
        )
        return ticket, job

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every background fill is done; False if ``timeout`` ran out.

        >>> # provider.read(..., strategy=Strategy.PARTIAL_FILL)
        >>> # provider.backfiller.wait_idle(60)   # the gaps are filled now
        """
        return self._executor.wait_idle(timeout)

    def demote(self, job: FillJob) -> None:
        """The caller stopped waiting for ``job``: let it run in the background."""
        self._executor.demote(job)

    def close(self, timeout: float | None = 10.0) -> None:
        self._executor.close(timeout)
