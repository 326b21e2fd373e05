"""In-process backfilling: fill jobs on worker threads, single flight per window.

Every fill (synchronous for a read, or detached in the background) is a job on
a small pool of daemon threads. A job in flight is shared: a second request
for the same window gets the same future instead of a second fetch. Across
processes the store's chunk lock and the coverage re-check inside
:func:`fill_window` do the same job.

Jobs run on threads rather than on the caller's event loop so that an SLA
deadline can stop *waiting* for a fetcher that hangs without killing the fill:
the job goes on and commits in the background.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.backfill.fill import FillResult, fill_window
from seamless_sdk.backfill.retry import RetryPolicy
from seamless_sdk.errors import ProviderClosedError
from seamless_sdk.intervals import Interval, chunk_windows
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

JobKey = tuple[str, int, int, int, bool]


@dataclass(frozen=True, slots=True)
class FillJob:
    """One window to fill and the future its waiters share."""

    job_id: str
    node_id: str
    interval: Interval
    start: int
    end: int
    partial_ok: bool
    retry: RetryPolicy
    request_id: str
    future: Future[FillResult]


class FillExecutor:
    """Runs :func:`fill_window` jobs on ``workers`` daemon threads, deduplicated by window."""

    def __init__(
        self,
        store: BarStore,
        fetcher: Any,
        *,
        workers: int = 4,
        metrics: Metrics | None = None,
        on_commit: Callable[[FillResult], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._fetcher = fetcher
        self._metrics = metrics
        self._on_commit = on_commit
        self._clock = clock
        self._queue: queue.SimpleQueue[FillJob | None] = queue.SimpleQueue()
        self._inflight: dict[JobKey, FillJob] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._closed = False
        self._ids = itertools.count(1)
        self._threads = [
            threading.Thread(target=self._work, name=f"seamless-fill-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self,
        node_id: str,
        interval: Interval,
        start: int,
        end: int,
        *,
        partial_ok: bool = False,
        retry: RetryPolicy | None = None,
        request_id: str = "",
    ) -> tuple[FillJob, bool]:
        """Queue a fill of ``[start, end)``; returns the job and whether it was
        already in flight (attached to rather than started)."""
        key: JobKey = (node_id, interval.seconds, start, end, partial_ok)
        with self._lock:
            if self._closed:
                raise ProviderClosedError("the backfiller is closed")
            job = self._inflight.get(key)
            if job is not None:
                return job, True
            job = FillJob(
                job_id=f"inproc-{next(self._ids)}",
                node_id=node_id,
                interval=interval,
                start=start,
                end=end,
                partial_ok=partial_ok,
                retry=retry or RetryPolicy(),
                request_id=request_id,
                future=Future(),
            )
            self._inflight[key] = job
        if self._metrics is not None:
            self._metrics.backfill_started(node_id, interval.name)
        self._queue.put(job)
        return job, False

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop taking jobs, drop queued ones, and wait up to ``timeout`` seconds
        for the ones running to commit or fail (a fetcher that hangs longer is
        abandoned on its daemon thread; it holds no transaction open)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._cancel.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._cancel.is_set():
                self._finish(job, exc=ProviderClosedError("closed before the fill started"))
                continue
            try:
                result = fill_window(
                    self._store,
                    self._fetcher,
                    job.node_id,
                    job.interval,
                    job.start,
                    job.end,
                    partial_ok=job.partial_ok,
                    retry=job.retry,
                    metrics=self._metrics,
                    request_id=job.request_id,
                    cancel=self._cancel,
                    now=self._clock(),
                    fingerprint=False,
                )
            except BaseException as exc:  # delivered to every waiter through the future
                self._finish(job, exc=exc)
            else:
                if self._on_commit is not None and not result.skipped:
                    self._on_commit(result)
                self._finish(job, result=result)

    def _finish(
        self, job: FillJob, *, result: FillResult | None = None, exc: BaseException | None = None
    ) -> None:
        with self._lock:
            self._inflight.pop(
                (job.node_id, job.interval.seconds, job.start, job.end, job.partial_ok), None
            )
        if self._metrics is not None:
            self._metrics.backfill_finished(job.node_id, job.interval.name)
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)  # type: ignore[arg-type]


class InProcessBackfiller:
    """The default detached backfiller: background jobs on the provider's executor."""

    def __init__(self, executor: FillExecutor, *, partial_ok: bool = False) -> None:
        self._executor = executor
        self._partial_ok = partial_ok

    def request(self, node_id: str, interval: Interval, ranges: RangeSet) -> BackfillTicket:
        """Queue every chunk window of ``ranges``; returns at once."""
        return self.submit(node_id, interval, ranges)[0]

    def submit(
        self,
        node_id: str,
        interval: Interval,
        ranges: RangeSet,
        *,
        partial_ok: bool | None = None,
        retry: RetryPolicy | None = None,
        request_id: str = "",
    ) -> tuple[BackfillTicket, list[FillJob]]:
        """Like :meth:`request`, also returning the jobs so a caller may wait on them."""
        jobs: list[FillJob] = []
        attached: list[tuple[int, int]] = []
        for s, e in ranges:
            for ws, we in chunk_windows(interval, s, e):
                job, joined = self._executor.submit(
                    node_id,
                    interval,
                    ws,
                    we,
                    partial_ok=self._partial_ok if partial_ok is None else partial_ok,
                    retry=retry,
                    request_id=request_id,
                )
                jobs.append(job)
                if joined:
                    attached.append((ws, we))
        ticket = BackfillTicket(
            requested=ranges,
            attached=RangeSet(attached),
            run_ids=tuple(dict.fromkeys(job.job_id for job in jobs)),
        )
        return ticket, jobs

    def close(self, timeout: float | None = 10.0) -> None:
        self._executor.close(timeout)
