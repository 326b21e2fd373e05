"""Coverage made visible in Dagster, and drift between the two repaired.

The store's coverage is the truth about which windows hold data; Dagster's
materialized partitions are what the UI shows. Windows the SDK fills in its
own process (no run) are reported to the instance as runless
materializations, with the same metadata and data version a run would write,
so the UI's partition bar matches the store. ``find_drift`` compares the two
in both directions for the reconciliation sensor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg

from seamless_assets.metadata import published_fingerprint, window_metadata
from seamless_assets.partitions import valid_nodes
from seamless_sdk.backfill.dagster import (
    PartitionKey,
    asset_name,
    partition_windows_touching,
    register_nodes,
)
from seamless_sdk.backfill.fill import FillResult, window_fingerprint
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.policy_settings import FingerprintPolicy
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id
from seamless_sdk.stores.base import BarStore


def covered_windows(
    store: BarStore,
    node_id: str,
    interval: Interval,
    start: int,
    end: int,
    *,
    now: float | None = None,
    closed_only: bool = False,
) -> list[tuple[int, int]]:
    """Partition windows touching ``[start, end)`` that the store covers wholly.

    The window still open counts when it is covered up to the now edge,
    unless ``closed_only``.
    """
    coverage = store.coverage(node_id, interval)
    edge = interval.now_edge(now)
    out = []
    for ws, we in partition_windows_touching(interval, RangeSet.span(start, end), now=now):
        if closed_only and we > edge:
            continue
        if coverage.covers(ws, min(we, edge)):
            out.append((ws, we))
    return out


def coverage_event(
    store: BarStore,
    key: PartitionKey,
    *,
    source: str,
    fingerprints: FingerprintPolicy | None = None,
) -> dg.AssetMaterialization:
    """The runless materialization of one stored partition window; its
    fingerprint is published as a run's would be (``fingerprints``)."""
    node_id, interval, (ws, we) = key.node_id, key.interval, key.window
    rows = len(store.read(node_id, interval, ws, we))
    covered = store.coverage(node_id, interval).clip(ws, we)
    fingerprint = window_fingerprint(store, node_id, interval, ws, we)
    metadata = window_metadata(
        node_id=node_id,
        interval=interval.name,
        start=ws,
        end=we,
        stored_rows=rows,
        covered=covered,
        fingerprint=fingerprint,
        source=source,
    )
    del metadata["fingerprint"]  # published (or not) by the policy below
    published, tags = published_fingerprint(fingerprint, key, covered, fingerprints)
    return dg.AssetMaterialization(
        asset_key=asset_name(interval),
        partition=str(key),
        description=f"reported from the store ({source})",
        metadata={**metadata, **published},
        tags=tags,
    )


def report_coverage(
    instance: dg.DagsterInstance,
    node_id: str,
    interval: Interval | str,
    window: tuple[int, int],
    *,
    store: BarStore,
    now: float | None = None,
) -> list[str]:
    """Report every wholly covered partition window in ``window`` as a runless
    materialization; returns the partition keys reported.

    >>> # report_coverage(DagsterInstance.get(), "demo:BTCUSDT", "1m",
    >>> #                 (1_704_067_200, 1_706_745_600), store=LocalStore(path))
    """
    node = validate_node_id(node_id)
    iv = parse_interval(interval)
    windows = covered_windows(store, node, iv, window[0], window[1], now=now)
    if not windows:
        return []
    register_nodes(instance, [node])
    keys = []
    for ws, _ in windows:
        event = coverage_event(store, PartitionKey(node, iv, ws), source="sdk")
        instance.report_runless_asset_event(event)
        keys.append(event.partition or "")
    return keys


def coverage_reporter(
    instance: dg.DagsterInstance,
    store: BarStore,
    *,
    intervals: Iterable[Interval | str] | None = None,
) -> Callable[[FillResult], None]:
    """A callback for in-process fills: reports the windows a fill completed.

    ``intervals`` limits it to intervals that have an asset (a fill of any
    other interval has no partition to show it in).
    """
    wanted = None if intervals is None else {parse_interval(i) for i in intervals}

    def _report(result: FillResult) -> None:
        if result.skipped or (wanted is not None and result.interval not in wanted):
            return
        report_coverage(
            instance, result.node_id, result.interval, (result.start, result.end), store=store
        )

    return _report


@dataclass(frozen=True)
class Drift:
    """Disagreement between the store and Dagster for one asset.

    ``unreported``: partitions the store covers but Dagster has not seen
    materialized; ``lost``: partitions Dagster shows materialized whose
    window the store no longer covers.
    """

    unreported: list[PartitionKey] = field(default_factory=list)
    lost: list[PartitionKey] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.unreported or self.lost)


def find_drift(
    store: BarStore,
    interval: Interval,
    nodes: Sequence[str],
    materialized: Iterable[str],
    partition_start: int,
    *,
    now: float | None = None,
    partial_ok: bool = False,
) -> Drift:
    """Compare closed windows from ``partition_start`` on, for ``nodes``.

    A window materialized with ``partial_ok`` may keep holes (rejected bars),
    so then only a window with no coverage at all counts as lost.
    """
    done = set(materialized)
    edge = interval.now_edge(now)
    unreported: list[PartitionKey] = []
    lost: list[PartitionKey] = []
    # A node partition added by hand in the UI may be any string: skip those.
    for node in valid_nodes(nodes):
        coverage = store.coverage(node, interval)
        for ws, we in partition_windows_touching(
            interval, RangeSet.span(partition_start, edge), now=now
        ):
            if we > edge:
                continue  # the open window is the tail sensor's
            key = PartitionKey(node, interval, ws)
            full = coverage.covers(ws, we)
            seen = str(key) in done
            if full and not seen:
                unreported.append(key)
            elif seen and not full:
                empty = not coverage.clip(ws, we)
                if empty or not partial_ok:
                    lost.append(key)
    return Drift(unreported, lost)
