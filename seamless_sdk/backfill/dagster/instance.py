"""Helpers that talk to a Dagster instance; ``dagster`` is imported inside them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from seamless_sdk.errors import StoreError
from seamless_sdk.intervals import Interval
from seamless_sdk.request import validate_node_id

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun
from seamless_sdk.backfill.dagster.names import (
    DAGSTER_PARTITION_TAG,
    IN_FLIGHT_STATUSES,
    NODES_PARTITIONS,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REQUEST_TAG,
    SOURCE_TAG,
    asset_name,
    partition_key,
    partition_tag_value,
)
from seamless_sdk.backfill.dagster.requests import BackfillRequest


def run_tags_for_request(req: BackfillRequest) -> dict[str, str]:
    """Tags of the single-partition run that serves a request row."""
    iv = req.parsed_interval
    return {
        DAGSTER_PARTITION_TAG: partition_key(req.node_id, iv, req.window_start),
        PARTITION_TAG: partition_tag_value(req.node_id, iv, req.window_start),
        REQUEST_TAG: req.key,
        SOURCE_TAG: "sdk",
    }


# -- instance helpers (dagster imported lazily) -------------------------------------
def register_nodes(instance: DagsterInstance, node_ids: Iterable[str]) -> list[str]:
    """Add nodes to the ``nodes`` dynamic partitions; returns the ones this call added.

    Safe when many processes register the same node at once: Dagster checks
    and inserts in two steps, so a loser of that race sees a unique-key error
    and simply looks again.
    """
    from sqlalchemy.exc import IntegrityError  # Dagster's SQL storages raise it

    wanted = list(dict.fromkeys(validate_node_id(n) for n in node_ids))
    for _ in range(5):
        known = set(instance.get_dynamic_partitions(NODES_PARTITIONS))
        new = [n for n in wanted if n not in known]
        if not new:
            return []
        try:
            instance.add_dynamic_partitions(NODES_PARTITIONS, new)
        except IntegrityError:
            continue  # registered by someone else meanwhile: look again
        return new
    raise StoreError(f"could not register nodes {wanted} as dynamic partitions")


def in_flight_runs(
    instance: DagsterInstance,
    node_id: str,
    interval: Interval,
    windows: Sequence[tuple[int, int]],
) -> dict[tuple[int, int], list[str]]:
    """Runs not finished yet that will fill any of ``windows``: window → run ids.

    A run counts when it targets this interval's asset and either carries the
    window's ``seamless/partition`` tag or Dagster's partition tag, or its
    partition range spans the window (ranges of a multi-partition asset are
    the cross product of a node range and a window range).
    """
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus(s) for s in IN_FLIGHT_STATUSES]),
        limit=1000,
    )
    name = asset_name(interval)
    mine = [r for r in runs if _targets_asset(r, name)]
    if not mine:
        return {}
    nodes = list(instance.get_dynamic_partitions(NODES_PARTITIONS))
    found: dict[tuple[int, int], list[str]] = {}
    for w in windows:
        pk = partition_key(node_id, interval, w[0])
        for run in mine:
            if run_covers_partition(run.tags, name, pk, nodes):
                found.setdefault(w, []).append(run.run_id)
    return found


def _targets_asset(run: DagsterRun, name: str) -> bool:
    if run.asset_selection:
        return any(list(key.path) == [name] for key in run.asset_selection)
    return run.job_name == f"{name}_job"


def run_covers_partition(
    tags: Mapping[str, str], name: str, pk: str, node_order: Sequence[str]
) -> bool:
    """Whether a run with ``tags`` (of asset ``name``) fills partition ``pk``."""
    if tags.get(PARTITION_TAG) == f"{name}|{pk}" or tags.get(DAGSTER_PARTITION_TAG) == pk:
        return True
    lo, hi = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not lo or not hi:
        return False
    node, _, window = pk.rpartition("|")
    lo_node, _, lo_window = lo.rpartition("|")
    hi_node, _, hi_window = hi.rpartition("|")
    # Window keys are fixed-width dates, so they order as strings; nodes order
    # as Dagster stores the dynamic partitions (insertion order).
    if not lo_window <= window <= hi_window:
        return False
    try:
        i, a, b = (node_order.index(n) for n in (node, lo_node, hi_node))
    except ValueError:
        return node == lo_node == hi_node
    return a <= i <= b
