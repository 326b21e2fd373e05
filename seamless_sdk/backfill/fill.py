"""The fill function: fetch → conform → write, a batch of store chunks per transaction.

Both the SDK's in-process backfiller and the Dagster assets call
:func:`fill_window`, so both paths write byte-identical data. It takes the
cross-process locks of up to ``WRITE_BATCH_CHUNKS`` store chunks of the
window (ascending), re-reads coverage, fetches exactly the ranges still
missing (never a covered bar), runs the conformance pipeline on each and
writes the batch's bars and coverage in one ``write_many`` transaction. A
range that fails writes nothing (the ranges conformed before it are
committed, as chunk-at-a-time writes would have left them).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from seamless_sdk import events, tracing
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.bars import iso_utc
from seamless_sdk.conformance import ConformanceReport, ConformanceResult, conform_bars
from seamless_sdk.coordination.flight import fill_chunk
from seamless_sdk.errors import (
    ConformanceError,
    FetchError,
    InvalidRequestError,
    ProviderClosedError,
)
from seamless_sdk.frames import Bars
from seamless_sdk.intervals import Interval, chunk_start, chunk_windows
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import describe, validate_node_id
from seamless_sdk.stores.base import BarStore, WindowWrite

if TYPE_CHECKING:
    from seamless_sdk.coordination.base import Coordinator


WRITE_BATCH_CHUNKS = 64
"""Store chunks a fill locks and writes in one transaction (a month of day
chunks; bounded because each held lock is an open file)."""


@dataclass(frozen=True, slots=True)
class FillResult:
    """What one call of :func:`fill_window` did.

    ``fetched`` are the ranges asked of the fetcher, ``covered`` the coverage
    added, ``rows`` the bars written; ``skipped`` is True when everything was
    already covered and the fetcher was not called.
    """

    node_id: str
    interval: Interval
    start: int
    end: int
    fetched: RangeSet
    covered: RangeSet
    rows: int
    report: ConformanceReport
    skipped: bool
    fingerprint: str
    attempts: int = 0
    retries: int = 0
    notes: tuple[str, ...] = field(default=())
    frame: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    """The window's stored bars as this fill left them, when the fill knows them
    without reading the store back: every chunk of the window was uncovered
    under its lock and written by this fill (``None`` otherwise, and when
    ``fingerprint=False``). Callers that check or hash the window use it instead
    of a re-read."""


def fill_window(
    store: BarStore,
    fetcher: Any,
    node_id: str,
    interval: Interval,
    start: int,
    end: int,
    *,
    policy: FillPolicy,
    now: float | None = None,
    metrics: Metrics | None = None,
    request_id: str = "",
    cancel: threading.Event | None = None,
    fingerprint: bool = True,
    coordinator: Coordinator | None = None,
    completion: bool = True,
    on_retry: Callable[[], None] | None = None,
) -> FillResult:
    """Make ``[start, end)`` of ``(node_id, interval)`` covered in ``store``.

    The window is clipped at the now edge (the end of the last closed bar):
    a bar still forming is never stored. ``policy`` (the read's, or the
    Dagster run's) says how often to fetch and what to do with bad bars.
    Raises ``ConformanceError`` when the fetched frame breaks the rules
    (unless ``policy.partial_ok``, which writes the conforming bars and leaves
    the rejected ones uncovered) and ``FetchError`` when every attempt to
    fetch failed. Either way nothing is written for the
    failing range. ``fingerprint=False`` skips re-reading the window to hash
    it (``FillResult.fingerprint`` is then empty).

    With a ``coordinator`` (e.g. ``PostgresCoordinator``) each chunk is claimed
    from it instead of taking the store's ``window_lock``, so hosts that share
    the store but no file fetch a window once (see
    ``seamless_sdk.coordination.flight``); a window the coordinator holds back
    (backoff, quarantine, skipped) raises ``BackfillDeferredError``.

    ``backfill_completion_ratio`` is set as each range commits, as the share
    of ``[start, end)`` done; ``completion=False`` leaves it to a caller that
    fills a larger job one window per call (the in-process backfiller).
    ``on_retry`` is called as each retry of a fetch starts, so a caller can
    count retries of a fill still in flight (``FillResult.retries`` counts them
    once the fill is done).

    >>> # fill_window(LocalStore("bars.sqlite"), SyntheticFetcher(), "demo:BTC",
    >>> #             parse_interval("1m"), 1_700_000_000 - 20 * 60, 1_700_000_000,
    >>> #             policy=FillPolicy())
    """
    validate_node_id(node_id)
    for name, value in (("start", start), ("end", end)):
        if not interval.is_aligned(value):
            raise InvalidRequestError(name, f"{iso_utc(value)} is not aligned to {interval.name}")
    edge = min(end, interval.now_edge(now))
    fetched: list[tuple[int, int]] = []
    covered = RangeSet()
    rows = attempts = 0
    report = ConformanceReport.empty()
    notes: list[str] = []
    if edge < end:
        notes.append(
            f"clipped at the now edge {iso_utc(edge)}: bars from there on are not closed yet"
        )
    reporter = _Reporter(node_id, interval, request_id, metrics, on_retry)
    # The bars written, in window order, while every chunk so far was wholly
    # uncovered under its lock: then they are exactly the window's stored bars.
    written: list[Bars] | None = [] if fingerprint else None

    # Conformed ranges not yet committed (the locked path writes a batch of
    # chunks in one ``write_many`` transaction instead of one per chunk).
    pending: list[tuple[WindowWrite, ConformanceResult]] = []

    def fill_range(
        s: int, e: int, guard: Callable[[], None] | None = None, *, defer: bool = False
    ) -> RangeSet:
        nonlocal attempts, report
        frame, tries = _fetch(fetcher, s, e, policy, reporter, cancel)
        attempts += tries
        result = conform_bars(frame, interval, s, e, flags=policy.flags, node_id=node_id)
        reporter.conformance(s, e, result.report)
        report = report.merge(result.report)
        if not result.report.ok and (not policy.partial_ok or result.report.schema_errors):
            reporter.failed(s, e, "nonconformant", "nonconformant", summary=result.report.summary)
            raise ConformanceError(result.report)
        window_covered = RangeSet.span(s, e).subtract(result.rejected)
        bars = result.stored_bars()
        write = WindowWrite(node_id, interval, s, e, bars, window_covered)
        if defer:
            pending.append((write, result))
            return window_covered
        if guard is not None:
            guard()  # a coordinator lease lost while we fetched: write nothing
        store.write_many([write])
        committed([(write, result)])
        return window_covered

    def committed(done: list[tuple[WindowWrite, ConformanceResult]]) -> None:
        nonlocal covered, rows
        for write, result in done:
            s, e, window_covered = write.start, write.end, write.covered
            assert window_covered is not None  # always set by fill_range
            fetched.append((s, e))
            covered = covered.union(window_covered)
            rows += result.rows
            if written is not None:
                assert isinstance(write.frame, Bars)  # what fill_range hands the store
                written.append(write.frame)
            ratio = min(1.0, (e - start) / (end - start)) if completion else None
            reporter.committed(s, e, result, ratio)

    def flush() -> None:
        # One transaction for every range conformed under the batch's locks.
        if pending:
            batch = list(pending)
            pending.clear()
            store.write_many([w for w, _ in batch])
            committed(batch)

    chunks = list(chunk_windows(interval, start, edge)) if start < edge else []
    if coordinator is not None:
        written = None  # the coordinator may skip chunks filled elsewhere
        for cs, ce in chunks:
            fill_chunk(
                coordinator, store, node_id, interval, cs, ce, fill_range,
                metrics=metrics, cancel=cancel,
            )  # fmt: skip
        chunks = []
    for lo in range(0, len(chunks), WRITE_BATCH_CHUNKS):
        batch_chunks = chunks[lo : lo + WRITE_BATCH_CHUNKS]
        with ExitStack() as locks:
            # Ascending chunk order, as every fill takes them: no two fills deadlock.
            for cs, _ in batch_chunks:
                locks.enter_context(store.window_lock(node_id, interval, chunk_start(interval, cs)))
            # Read under the locks: another thread or process may have filled them.
            known = store.coverage(node_id, interval)
            try:
                for cs, ce in batch_chunks:
                    missing = known.missing(cs, ce)
                    if written is not None and missing.to_list() != [[cs, ce]]:
                        written = None  # bars stored before this fill: only a read knows them
                    for s, e in missing:
                        fill_range(s, e, defer=True)
            except BaseException:
                # What conformed before the failure is committed, as a fill one
                # chunk at a time would have; the failing range writes nothing.
                flush()
                raise
            flush()
    frame = _concat(written) if written is not None else None
    if fingerprint and frame is None:
        frame = store.read(node_id, interval, start, end)
        window_cover = store.coverage(node_id, interval).clip(start, end)
    else:
        window_cover = covered
    return FillResult(
        node_id=node_id,
        interval=interval,
        start=start,
        end=end,
        fetched=RangeSet(fetched),
        covered=covered,
        rows=rows,
        report=report,
        skipped=not fetched,
        fingerprint=frame_fingerprint(frame, window_cover) if frame is not None else "",
        attempts=attempts,
        retries=max(0, attempts - len(fetched)),
        notes=tuple(notes),
        frame=frame,
    )


def window_fingerprint(
    store: BarStore, node_id: str, interval: Interval, start: int, end: int
) -> str:
    """sha256 over the stored bars of a window and its coverage: equal data, equal
    fingerprint, whichever path wrote it (used as the Dagster ``DataVersion``)."""
    frame = store.read(node_id, interval, start, end)
    return frame_fingerprint(frame, store.coverage(node_id, interval).clip(start, end))


def frame_fingerprint(frame: pd.DataFrame, covered: RangeSet) -> str:
    """The :func:`window_fingerprint` of a window whose stored bars are ``frame``
    and whose coverage (clipped to the window) is ``covered``, without a read."""
    digest = hashlib.sha256()
    digest.update(repr(covered.to_list()).encode())
    digest.update(frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    for column in ("open", "high", "low", "close", "volume"):
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    digest.update(np.ascontiguousarray(frame["flags"].to_numpy(np.int32)).tobytes())
    return digest.hexdigest()


def _concat(parts: list[Bars]) -> pd.DataFrame | None:
    # Nothing written means nothing was fetched: the caller reads the (empty or
    # clipped) window, which keeps the empty frame's dtypes the store's own.
    if not parts:
        return None
    return Bars.concat(parts).to_frame(flags=True)


CANCEL_POLL_S = 0.05
"""How often a coroutine fetch checks whether its fill was cancelled (close())."""


def call_fetcher(
    fetcher: Any,
    node_id: str,
    interval: Interval,
    start: int,
    end: int,
    cancel: threading.Event | None = None,
) -> Any:
    """Call ``fetcher.fetch`` positionally; a coroutine function is run to
    completion, or cancelled within ``CANCEL_POLL_S`` once ``cancel`` is set
    (a thread running a plain function cannot be stopped; a coroutine can)."""
    result = fetcher.fetch(node_id, interval.name, start, end)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result, cancel))
    return result


async def _await(awaitable: Any, cancel: threading.Event | None) -> Any:
    if cancel is None:
        return await awaitable
    task = asyncio.ensure_future(awaitable)
    while not cancel.is_set():
        done, _ = await asyncio.wait({task}, timeout=CANCEL_POLL_S)
        if done:
            return task.result()
    task.cancel()
    raise ProviderClosedError("the fill was cancelled while its coroutine fetch ran")


@dataclass(frozen=True, slots=True)
class _Reporter:
    """Log events and metrics of one fill, so each call names only what differs."""

    node_id: str
    interval: Interval
    request_id: str
    metrics: Metrics | None
    on_retry: Callable[[], None] | None = None

    def event(self, name: str, start: int, end: int, **fields: Any) -> None:
        events.emit(
            name,
            node_id=self.node_id,
            interval=self.interval.name,
            start=start,
            end=end,
            request_id=self.request_id,
            source="backfill",
            **fields,
        )

    def attempt(self, start: int, end: int, attempt: int) -> None:
        self.event(events.BACKFILL_ATTEMPT, start, end, attempt=attempt)
        if self.metrics is not None:
            self.metrics.fetch(self.node_id, self.interval.name)

    def retry(self) -> None:
        if self.metrics is not None:
            self.metrics.backfill_retry(self.node_id, self.interval.name)
        if self.on_retry is not None:
            self.on_retry()

    def conformance(self, start: int, end: int, report: ConformanceReport) -> None:
        """``seamless.conformance`` for one fetched window: INFO when it conforms,
        WARNING (``error_kind`` ``nonconformant``) when it does not."""
        level = logging.INFO if report.ok else logging.WARNING
        if not events.enabled(level):
            return
        self.event(
            events.CONFORMANCE,
            start,
            end,
            level=level,
            ok=report.ok,
            mode=report.mode,
            flags={k: v for k, v in report.flag_counts.items() if v},
            rule_violations={k: v for k, v in report.rule_violations.items() if v},
            schema_errors=len(report.schema_errors),
            error_kind=None if report.ok else "nonconformant",
        )

    def failed(self, start: int, end: int, status: str, error_kind: str, **fields: Any) -> None:
        """``seamless.backfill`` of a window that was not filled: WARNING, with
        ``error_kind`` (the fetcher's exception class, or ``nonconformant``), so a
        pipeline that filters on level or kind sees failed fills."""
        self.event(
            events.BACKFILL,
            start,
            end,
            level=logging.WARNING,
            status=status,
            error_kind=error_kind,
            **fields,
        )
        if self.metrics is not None:
            self.metrics.backfill_failure(self.node_id, self.interval.name)

    def committed(
        self, start: int, end: int, result: ConformanceResult, ratio: float | None
    ) -> None:
        self.event(events.BACKFILL, start, end, status="committed", rows=result.rows)
        if self.metrics is not None:
            self.metrics.backfill_committed(self.node_id, self.interval.name, end, ratio)
            self.metrics.conformance_flags(self.node_id, result.report.flag_counts)


def _fetch(
    fetcher: Any,
    start: int,
    end: int,
    policy: FillPolicy,
    reporter: _Reporter,
    cancel: threading.Event | None,
) -> tuple[pd.DataFrame | Any, int]:
    last: BaseException | None = None
    for attempt in range(1, policy.max_attempts + 1):
        if cancel is not None and cancel.is_set():
            raise FetchError(f"fetch of [{iso_utc(start)}, {iso_utc(end)}) cancelled", attempt - 1)
        reporter.attempt(start, end, attempt)
        try:
            with tracing.span(
                tracing.DATASOURCE_READ, source="backfill", node_id=reporter.node_id,
                interval=reporter.interval, start=start, end=end, attempt=attempt,
                request_id=reporter.request_id or None,
            ):  # fmt: skip
                frame = call_fetcher(
                    fetcher, reporter.node_id, reporter.interval, start, end, cancel
                )
            return frame, attempt
        except Exception as exc:  # a fetcher may raise anything; it is retried, then surfaced
            last = exc
            if attempt == policy.max_attempts:
                break
            reporter.retry()
            delay = policy.delay_s(attempt)
            if cancel is not None:
                if cancel.wait(delay):
                    break
            else:
                time.sleep(delay)
    shown = describe(last)  # the fetcher's exception may not even repr
    reporter.failed(start, end, "fetch_failed", type(last).__name__, error=shown)
    raise FetchError(
        f"fetcher failed for {reporter.node_id} {reporter.interval.name} "
        f"[{iso_utc(start)}, {iso_utc(end)}) "
        f"after {policy.max_attempts} attempt(s): {shown}",
        policy.max_attempts,
    ) from last
