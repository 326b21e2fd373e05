"""How a fill fills one store chunk under a coordinator instead of the store's lock.

For one chunk window :func:`fill_chunk` loops:

1. read the series' coverage version, *then* the store's coverage (so the
   coverage read is at least as new as the version);
2. nothing missing: done, without touching the job row;
3. claim the chunk's job with that version and the missing ranges:
   - ``busy``: another host (or thread) holds a live lease: wait until it
     finishes, fails or dies, then start over (its bars are then covered);
   - ``stale``: the window was committed after step 1: start over;
   - ``backoff``/``quarantined``/``skipped``: raise ``BackfillDeferredError``;
4. with the lease: fetch, conform and write each remaining range, renewing the
   lease in the background, checking it is still ours right before each
   write, and recording each committed range (``progress``) so a holder that
   dies half-way leaves only the rest to its successor; then ``complete``.
   A failure marks the job FAILED (backoff, quarantine) and is raised; a lease
   lost to another host (we stalled past ``lease_until``) sends us back to 1,
   where we wait for the new holder.

The store write and the job row are in different transactions (the store may
be another database): a holder that stalls past its lease *between* the check
and the write can still write a window its successor also writes. The store's
write replaces the window atomically, so the bars are not duplicated; only
the fetch is. Renewal every ``lease_s / 3`` makes that need a stall of two
thirds of a lease.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Protocol

from seamless_sdk import tracing
from seamless_sdk.coordination.base import ClaimRefused, Coordinator, JobKey, Lease
from seamless_sdk.errors import BackfillDeferredError, CoordinatorError, FetchError, LeaseLostError
from seamless_sdk.intervals import Interval
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore

MAX_ROUNDS = 10_000
"""Claim rounds before giving up: each round means someone else committed or
held the window, so this many is a coordinator that never settles (a bug)."""


class RangeFiller(Protocol):
    """Fetches, conforms and writes ``[start, end)``; calls ``guard()`` right before
    the store write; returns the coverage the write added."""

    def __call__(self, start: int, end: int, guard: Callable[[], None]) -> RangeSet: ...


def fill_chunk(
    coordinator: Coordinator,
    store: BarStore,
    node_id: str,
    interval: Interval,
    start: int,
    end: int,
    fill_range: RangeFiller,
    *,
    metrics: Metrics | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Fill what is missing of ``[start, end)`` (inside one store chunk) once across
    every host that shares ``coordinator``."""
    key = JobKey.for_chunk(node_id, interval, start)
    for _ in range(MAX_ROUNDS):
        if cancel is not None and cancel.is_set():
            raise FetchError(f"fill of {key} cancelled", 0)
        version = coordinator.coverage_version(node_id, interval)
        todo = store.coverage(node_id, interval).missing(start, end)
        if not todo:
            return
        with tracing.span(
            tracing.BACKFILL_CLAIM, node_id=node_id, interval=interval, start=start, end=end,
            missing_count=todo.total() // interval.seconds, coordinator=type(coordinator).__name__,
        ) as span:  # fmt: skip
            outcome = coordinator.claim(key, version, todo)
            span.set(claim=outcome.reason if isinstance(outcome, ClaimRefused) else "claimed")
        if isinstance(outcome, ClaimRefused):
            _on_refusal(coordinator, outcome, cancel)
            continue
        try:
            _run(coordinator, outcome, fill_range, metrics)
        except LeaseLostError:
            continue  # another host took it over: wait for it like any holder
        return
    raise CoordinatorError(f"{key}: no claim settled after {MAX_ROUNDS} rounds")


def _on_refusal(
    coordinator: Coordinator, refused: ClaimRefused, cancel: threading.Event | None
) -> None:
    if refused.reason == "busy":
        # Waiting out another holder's lease is this fill's lock wait.
        with tracing.timed_lock("lease", key=str(refused.key)) as span:
            waited = coordinator.wait(refused.key, cancel=cancel)
            span.set(contended=True)
        if not waited:
            raise FetchError(f"waiting for {refused.key} cancelled", 0)
    elif refused.reason != "stale":
        raise BackfillDeferredError(str(refused.key), refused.reason, refused.retry_at)


def _run(
    coordinator: Coordinator, lease: Lease, fill_range: RangeFiller, metrics: Metrics | None
) -> None:
    key = lease.key
    total = lease.remaining.total() + lease.completed.total()
    report = _progress_reporter(metrics, key, total)
    report(lease.completed.total())
    done = lease.completed.total()
    with coordinator.hold(lease) as held:
        try:
            left = RangeSet()
            for s, e in lease.remaining:
                covered = fill_range(s, e, held.check)
                coordinator.progress(lease, RangeSet.span(s, e))
                left = left.union(RangeSet.span(s, e).subtract(covered))
                done += e - s
                report(done)
            coordinator.complete(lease, left)
        except LeaseLostError:
            raise
        except BaseException as exc:
            # Taken over meanwhile (the new holder owns the outcome), or the database
            # is away (the lease runs out): the fill's own error is what to raise.
            with contextlib.suppress(CoordinatorError):
                coordinator.fail(lease, repr(exc))
            raise


def _progress_reporter(metrics: Metrics | None, key: JobKey, total: int) -> Callable[[int], None]:
    def report(done: int) -> None:
        if metrics is not None and total:
            metrics.lease_completion(key.node_id, key.interval, str(key), done / total)

    return report
