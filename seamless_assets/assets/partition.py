"""Partitions of a bar asset: fill the windows, then report each one.

The asset function stays a loop; this module turns its partition keys into
windows and calls the SDK's ``fill_window`` (fetch → conform → write, atomic,
idempotent, a no-op without fetching when the window is already covered) for
up to ``fetch_concurrency`` partitions at once, since fetchers are usually
network-bound. Each partition comes back in key order as a :class:`Filled`:
the fill's result and the window's stored bars, handed over by the fill (a
window it wrote from empty) or read once, never re-read for the
fingerprint, the row count and every check separately. The
materialization (its data version is the window's content fingerprint) is
built here; the checks are evaluated in bulk (``evaluations.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd

from seamless_assets.metadata import fill_metadata, published_fingerprint
from seamless_assets.resources import SeamlessResource
from seamless_assets.run_metrics import record_partition
from seamless_sdk import tracing
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.backfill.fill import FillResult, fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.conformance import ConformanceReport, write_report
from seamless_sdk.errors import ConformanceError, FetchError
from seamless_sdk.metrics import Metrics
from seamless_sdk.policy_settings import FingerprintPolicy
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore


@dataclass(frozen=True, slots=True)
class Unrecorded:
    """A partition filled without recording it: a tail run within
    ``tail_record_every_s`` of the partition's last materialization. Its new
    bars are stored; no event is written and the window is not read back."""

    key: PartitionKey
    rows: int


@dataclass(frozen=True, slots=True)
class Filled:
    """One partition after its fill: what the checks and the materialization need.

    ``result`` is None when the fetched frame did not conform (nothing was
    written; ``report`` is the failing one). ``frame`` and ``covered`` are the
    window's stored bars and coverage now.
    """

    key: PartitionKey
    result: FillResult | None
    report: ConformanceReport
    frame: pd.DataFrame
    covered: RangeSet
    report_path: Path | None


def fill_partitions(
    seamless: SeamlessResource,
    store: BarStore,
    keys: Sequence[PartitionKey],
    *,
    policy: FillPolicy,
    now: float | None = None,
    unrecorded: frozenset[str] = frozenset(),
) -> Iterator[Filled | Unrecorded | FetchError]:
    """Fill every partition of ``keys`` with ``policy``, in order of ``keys``.

    At most ``seamless.fetch_concurrency`` fills run at once. A partition
    whose fetch failed every attempt comes back as its ``FetchError`` (the
    others still fill; the caller fails the run afterwards); one named in
    ``unrecorded`` as :class:`Unrecorded`.
    """
    workers = max(1, seamless.fetch_concurrency)

    # Each partition's fill continues the trace of the read that asked for the run.
    @tracing.partition_run(policy.trace_context)
    def run(key: PartitionKey) -> Filled | Unrecorded | FetchError:
        record = str(key) not in unrecorded
        return record_partition(
            seamless.run_metrics(),
            key.node_id,
            key.interval.name,
            lambda metrics: _fill_or_error(seamless, store, key, policy, now, record, metrics),
            ok=_succeeded,
        )

    if workers == 1 or len(keys) == 1:
        for key in keys:
            yield run(key)
        return
    seamless.get_fetcher()  # built once here, not raced by the workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="seamless-fill") as pool:
        in_flight: deque[Future[Filled | Unrecorded | FetchError]] = deque()
        pending = iter(keys)
        for key in pending:
            in_flight.append(pool.submit(run, key))
            if len(in_flight) >= workers:
                break
        while in_flight:
            done = in_flight.popleft().result()
            nxt = next(pending, None)
            if nxt is not None:
                in_flight.append(pool.submit(run, nxt))
            yield done


def materialization(
    asset_key: dg.AssetKey, filled: Filled, fingerprints: FingerprintPolicy | None = None
) -> dg.AssetMaterialization | None:
    """The partition's materialization event; None when its fill wrote nothing
    (a non-conformant fetch). ``fingerprints`` (the resource's
    ``fingerprint_policy()``) decides which fingerprint it publishes."""
    result = filled.result
    if result is None:
        return None
    path = filled.report_path
    metadata = fill_metadata(result, len(filled.frame), filled.covered)
    del metadata["fingerprint"]  # published (or not) by the policy below
    published, tags = published_fingerprint(
        result.fingerprint, filled.key, filled.covered, fingerprints
    )
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=str(filled.key),
        description=result.report.summary,
        metadata={
            **metadata,
            **published,
            **({"report_path": dg.MetadataValue.path(str(path))} if path else {}),
        },
        tags=tags,
    )


def _succeeded(outcome: Filled | Unrecorded | FetchError) -> bool:
    # A fetch that failed every attempt, or bars that did not conform: a failed job.
    return not isinstance(outcome, FetchError) and not (
        isinstance(outcome, Filled) and outcome.result is None
    )


def _fill_or_error(
    seamless: SeamlessResource,
    store: BarStore,
    key: PartitionKey,
    policy: FillPolicy,
    now: float | None,
    record: bool,
    metrics: Metrics | None = None,
) -> Filled | Unrecorded | FetchError:
    try:
        if not record:
            node_id, interval, (start, end) = key.node_id, key.interval, key.window
            try:
                result = fill_window(
                    store, seamless.get_fetcher(), node_id, interval, start, end,
                    now=now, policy=policy, request_id=str(key), fingerprint=False,
                    metrics=metrics, coordinator=seamless.get_coordinator(),
                )  # fmt: skip
                return Unrecorded(key, result.rows)
            except ConformanceError:
                pass  # bad bars are always recorded: fill again below, with checks
        return _fill(seamless, store, key, policy, now, metrics)
    except FetchError as err:
        return err


def _fill(
    seamless: SeamlessResource,
    store: BarStore,
    key: PartitionKey,
    policy: FillPolicy,
    now: float | None,
    metrics: Metrics | None = None,
) -> Filled:
    node_id, interval, (start, end) = key.node_id, key.interval, key.window
    result: FillResult | None
    try:
        result = fill_window(
            store, seamless.get_fetcher(), node_id, interval, start, end,
            now=now, policy=policy, request_id=str(key), metrics=metrics,
            coordinator=seamless.get_coordinator(),
        )  # fmt: skip
        report = result.report
    except ConformanceError as err:
        result, report = None, err.report
    frame = result.frame if result is not None and result.frame is not None else None
    if frame is None:
        frame = store.read(node_id, interval, start, end)
    covered = store.coverage(node_id, interval).clip(start, end)
    return Filled(key, result, report, frame, covered, _write_report(seamless, report, key))


def _write_report(
    seamless: SeamlessResource, report: ConformanceReport, key: PartitionKey
) -> Path | None:
    """The window's conformance report as JSON under the configured directory."""
    if not seamless.reports_dir:
        return None
    return write_report(report, seamless.reports_dir, key.node_id, key.interval, *key.window)
