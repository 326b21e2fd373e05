"""Partition windows of a change, and copying one window between stores atomically.

A canary, a promotion and a reprocess all work on the code location's
partitions (``PartitionKey``: a node and a UTC month or year window), the
unit Dagster shows and versions. :func:`partition_keys` lists the ones a
``--nodes/--start/--end`` request touches; :func:`copy_window` makes one
window of a target store hold exactly a source store's bars of it, in one
transaction (``BarStore.write_many``), so a reader of the target sees the
old window or the new one, never a mix, and never a gap: the target's
coverage only grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from seamless_sdk.backfill.dagster.names import partition_windows_touching
from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.backfill.fill import frame_fingerprint
from seamless_sdk.bars import NS, iso_utc
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, chunk_start, chunk_windows, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import to_epoch_seconds, validate_node_id
from seamless_sdk.stores.base import BarStore, WindowWrite


def partition_keys(
    nodes: Sequence[str],
    interval: Interval | str,
    start: object,
    end: object,
    *,
    now: float | None = None,
) -> list[PartitionKey]:
    """Every partition of ``nodes`` whose window ``[start, end)`` touches, node by
    node, oldest first; windows that start at or after the now edge hold no
    closed bar and are left out. Bad input is ``InvalidRequestError`` naming it."""
    if isinstance(nodes, str) or not nodes:
        raise InvalidRequestError("nodes", "name at least one node id")
    ids = [validate_node_id(n) for n in dict.fromkeys(nodes)]
    iv = parse_interval(interval)
    lo = to_epoch_seconds(start, "start")  # type: ignore[arg-type]
    hi = to_epoch_seconds(end, "end")  # type: ignore[arg-type]
    if lo >= hi:
        raise InvalidRequestError("end", f"{iso_utc(hi)} is not after start {iso_utc(lo)}")
    windows = partition_windows_touching(iv, RangeSet.span(lo, hi), now=now)
    return [PartitionKey(n, iv, ws) for n in ids for ws, _ in windows]


@dataclass(frozen=True, slots=True)
class WindowState:
    """One window as a store holds it: its coverage (clipped) and content fingerprint."""

    covered: RangeSet
    rows: int
    fingerprint: str


def window_state(store: BarStore, key: PartitionKey) -> WindowState:
    """The window's coverage, row count and fingerprint (the Dagster data version)."""
    ws, we = key.window
    frame = store.read(key.node_id, key.interval, ws, we)
    covered = store.coverage(key.node_id, key.interval).clip(ws, we)
    return WindowState(covered, len(frame), frame_fingerprint(frame, covered))


def copy_window(source: BarStore, target: BarStore, key: PartitionKey) -> RangeSet:
    """Replace ``target``'s bars of every range ``source`` covers in the window with
    ``source``'s, in one transaction; returns the ranges copied (empty: nothing
    covered in ``source``, nothing written).

    The target keeps what it covers outside the source's coverage: copying
    never turns covered bars into a gap.
    """
    ws, we = key.window
    covered = source.coverage(key.node_id, key.interval).clip(ws, we)
    if not covered:
        return covered
    with ExitStack() as locks:
        # The target's chunk locks, ascending as fill_window takes them (no
        # deadlock): a concurrent fill cannot write into the window mid-copy.
        for cs in sorted({chunk_start(key.interval, s) for s, _ in chunks_of(key, covered)}):
            locks.enter_context(target.window_lock(key.node_id, key.interval, cs))
        _copy(source, target, key, covered)
    return covered


def chunks_of(key: PartitionKey, ranges: RangeSet) -> list[tuple[int, int]]:
    """The store chunk windows ``ranges`` touch inside the partition."""
    return [w for s, e in ranges for w in chunk_windows(key.interval, s, e)]


def _copy(source: BarStore, target: BarStore, key: PartitionKey, covered: RangeSet) -> None:
    ws, we = key.window
    frame = source.read(key.node_id, key.interval, ws, we)
    ts = frame["ts"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    writes = []
    for s, e in covered:
        lo, hi = np.searchsorted(ts, [s * NS, e * NS])
        part = frame.iloc[lo:hi].reset_index(drop=True)
        writes.append(WindowWrite(key.node_id, key.interval, s, e, part, RangeSet.span(s, e)))
    target.write_many(writes)
