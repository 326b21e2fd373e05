"""Partitions of the bar assets: node (dynamic) × time window (monthly or yearly).

The time window follows ``Interval.partition_unit``: a month for sub-hour
bars, a year for hourly and daily bars, so 500 nodes × 5 years of 1m bars are
30,000 partitions, well under Dagster's 100,000 per asset. ``end_offset=1``
makes the window that is still open a partition too: the tail sensor keeps
it filled up to the last closed bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache

import dagster as dg

from seamless_sdk.backfill.dagster import (
    NODE_DIMENSION,
    NODES_PARTITIONS,
    WINDOW_DIMENSION,
    window_format,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, window_floor
from seamless_sdk.request import validate_node_id

nodes_partitions = dg.DynamicPartitionsDefinition(name=NODES_PARTITIONS)

_CRON = {"month": "0 0 1 * *", "year": "0 0 1 1 *"}


@cache
def window_partitions(interval: Interval, start: int) -> dg.TimeWindowPartitionsDefinition:
    """Monthly or yearly UTC windows from the window holding ``start``."""
    unit = interval.partition_unit
    first = datetime.fromtimestamp(window_floor(start, unit), UTC)
    return dg.TimeWindowPartitionsDefinition(
        start=first,
        fmt=window_format(interval),
        cron_schedule=_CRON[unit],
        timezone="UTC",
        end_offset=1,
    )


@cache
def bars_partitions(interval: Interval, start: int) -> dg.MultiPartitionsDefinition:
    """The partitions of ``bars_<interval>``: keys ``<node>|<window>``."""
    return dg.MultiPartitionsDefinition(
        {NODE_DIMENSION: nodes_partitions, WINDOW_DIMENSION: window_partitions(interval, start)}
    )


def valid_nodes(nodes: Iterable[str]) -> list[str]:
    """The valid node ids of ``nodes``, in order. Dynamic partitions (added by
    hand in the UI) and stores written by hand may hold any string."""
    out = []
    for node in nodes:
        try:
            out.append(validate_node_id(node))
        except InvalidRequestError:
            continue
    return out


def contiguous_groups(needed: Sequence[str], order: Sequence[str]) -> list[list[str]]:
    """``needed`` split into runs of consecutive nodes of ``order``: a partition
    range of a multi-partition asset spans every node between its ends."""
    position = {n: i for i, n in enumerate(order)}
    ranked = sorted((position[n], n) for n in needed if n in position)
    groups: list[list[str]] = []
    last = -2
    for i, node in ranked:
        if i == last + 1 and groups:
            groups[-1].append(node)
        else:
            groups.append([node])
        last = i
    return groups
