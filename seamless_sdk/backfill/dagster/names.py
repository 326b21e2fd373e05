"""Names shared by the SDK and ``seamless_assets``: asset and job names,
partition keys, run tags. Pure functions; no Dagster import."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval, window_floor, window_next
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id

# -- names shared with seamless_assets ---------------------------------------------
ASSET_PREFIX = "bars_"
NODES_PARTITIONS = "nodes"
NODE_DIMENSION = "node"
WINDOW_DIMENSION = "window"
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

_WINDOW_FORMATS = {"month": "%Y-%m", "year": "%Y"}


def asset_name(interval: Interval | str) -> str:
    """The Dagster asset of an interval: ``bars_1m``."""
    return ASSET_PREFIX + parse_interval(interval).name


def job_name(interval: Interval | str) -> str:
    """The partitioned asset job that materializes one interval's asset."""
    return f"{asset_name(interval)}_job"


def window_format(interval: Interval) -> str:
    """strftime format of the interval's partition keys (``%Y-%m`` or ``%Y``)."""
    return _WINDOW_FORMATS[interval.partition_unit]


def window_key(interval: Interval, window_start: int) -> str:
    """The time-dimension partition key of the window starting at ``window_start``."""
    return datetime.fromtimestamp(window_start, UTC).strftime(window_format(interval))


def window_of_key(interval: Interval, key: str) -> tuple[int, int]:
    """``[start, end)`` epoch seconds of a time-dimension partition key."""
    try:
        start = int(datetime.strptime(key, window_format(interval)).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise InvalidRequestError(
            "partition_key", f"{key!r} is not a {interval.partition_unit} key of {interval.name}"
        ) from None
    return start, window_next(start, interval.partition_unit)


def partition_key(node_id: str, interval: Interval, window_start: int) -> str:
    """The multi-partition key ``<node>|<window>`` (dimensions sorted by name)."""
    return f"{node_id}|{window_key(interval, window_start)}"


def split_partition_key(interval: Interval, key: str) -> tuple[str, int, int]:
    """``(node_id, window_start, window_end)`` of a multi-partition key."""
    node, sep, window = key.rpartition("|")
    if not sep:
        raise InvalidRequestError("partition_key", f"{key!r} is not '<node>|<window>'")
    start, end = window_of_key(interval, window)
    return validate_node_id(node), start, end


def partition_tag_value(node_id: str, interval: Interval, window_start: int) -> str:
    """The ``seamless/partition`` tag of a run that fills exactly one partition."""
    return f"{asset_name(interval)}|{partition_key(node_id, interval, window_start)}"


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


# -- the request table --------------------------------------------------------------
