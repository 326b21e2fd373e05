"""Names shared by the SDK and ``seamless_assets``: asset and job names, run
tags, the windows a gap touches. Pure functions; no Dagster import. Partition
keys are ``PartitionKey``'s (``partition_key.py``)."""

from __future__ import annotations

from pathlib import Path

from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.intervals import Interval, parse_interval, window_floor, window_next
from seamless_sdk.ranges import RangeSet

# -- names shared with seamless_assets ---------------------------------------------
ASSET_PREFIX = "bars_"
PARTITION_TAG = "seamless/partition"
"""One run per value at a time (dagster.yaml): ``<asset>|<node>|<window key>``."""
REQUEST_TAG = "seamless/request"
"""``<row id>:<attempt>`` of the request row a run fills."""
SOURCE_TAG = "seamless/source"
"""Who asked for a run: ``sdk``, ``tail``, ``repair`` or ``cli``."""
# Dagster's own run tags for one partition and for a partition range (the
# strings Dagster's backfills and UI write; pinned by a unit test).
DAGSTER_PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
IN_FLIGHT_STATUSES: tuple[str, ...] = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
"""Every run status that is not finished: a run in any of them will still fill."""


def asset_name(interval: Interval | str) -> str:
    """The Dagster asset of an interval: ``bars_1m``."""
    return ASSET_PREFIX + parse_interval(interval).name


def job_name(interval: Interval | str) -> str:
    """The partitioned asset job that materializes one interval's asset."""
    return f"{asset_name(interval)}_job"


def partition_tag_value(key: PartitionKey) -> str:
    """The ``seamless/partition`` tag of a run that fills exactly one partition."""
    return f"{asset_name(key.interval)}|{key}"


def partition_windows_touching(
    interval: Interval, ranges: RangeSet, *, now: float | None = None
) -> list[tuple[int, int]]:
    """Whole partition windows that ``ranges`` touch, oldest first, skipping any
    that start at or after the now edge (they hold no closed bar yet)."""
    edge = interval.now_edge(now)
    unit = interval.partition_unit
    out: list[tuple[int, int]] = []
    for s, e in ranges:
        cur = window_floor(s, unit)
        while cur < e and cur < edge:
            nxt = window_next(cur, unit)
            if not out or out[-1][0] < cur:
                out.append((cur, nxt))
            cur = nxt
    return out


def requests_path_for(store_path: str | Path) -> Path:
    """Default request-table file next to a store file: ``x.sqlite`` → ``x.requests.sqlite``."""
    path = Path(store_path)
    return path.with_name(f"{path.stem}.requests.sqlite")
