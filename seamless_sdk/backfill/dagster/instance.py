"""Helpers that talk to a Dagster instance; ``dagster`` is imported inside them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import Interval
from seamless_sdk.request import validate_node_ids

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun
from seamless_sdk.backfill.dagster.names import (
    DAGSTER_PARTITION_TAG,
    IN_FLIGHT_STATUSES,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    REQUEST_TAG,
    SOURCE_TAG,
    asset_name,
    partition_tag_value,
)
from seamless_sdk.backfill.dagster.partition_key import NODES_PARTITIONS, PartitionKey
from seamless_sdk.backfill.dagster.requests import BackfillRequest


def run_tags_for_request(req: BackfillRequest) -> dict[str, str]:
    """Tags of the single-partition run that serves a request row.

    They carry the fill policy of the read that asked (``seamless/fill.*``),
    which the asset reads back with ``FillPolicy.from_tags``; a row written
    before policies were stored carries none, so the location's default holds.
    """
    key = req.partition
    return {
        DAGSTER_PARTITION_TAG: str(key),
        PARTITION_TAG: partition_tag_value(key),
        REQUEST_TAG: req.key,
        SOURCE_TAG: "sdk",
        **(req.policy.to_tags() if req.policy is not None else {}),
    }


# -- instance helpers (dagster imported lazily) -------------------------------------
def register_nodes(instance: DagsterInstance, node_ids: Iterable[str]) -> list[str]:
    """Add nodes to the ``nodes`` dynamic partitions; returns the ones this call added.

    Safe when many processes register the same node at once: Dagster checks
    and inserts in two steps, so a loser of that race sees a unique-key error
    and simply looks again.
    """
    from sqlalchemy.exc import IntegrityError  # Dagster's SQL storages raise it

    wanted = validate_node_ids(node_ids)
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
        pk = PartitionKey(node_id, interval, w[0])
        for run in mine:
            if run_covers_partition(run.tags, pk, nodes, listed_partitions(run.run_config)):
                found.setdefault(w, []).append(run.run_id)
    return found


def _targets_asset(run: DagsterRun, name: str) -> bool:
    if run.asset_selection:
        return any(list(key.path) == [name] for key in run.asset_selection)
    return run.job_name == f"{name}_job"


def listed_partitions(run_config: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The partition keys a run's config lists (``ops.<op>.config.partitions``, the
    runs Seamless makes over a range), or None when it lists none."""
    ops = (run_config or {}).get("ops")
    if not isinstance(ops, Mapping):
        return None
    listed: set[str] = set()
    found = False
    for op in ops.values():
        keys = op.get("config", {}).get("partitions") if isinstance(op, Mapping) else None
        if isinstance(keys, list | tuple):
            found = True
            listed.update(str(k) for k in keys)
    return frozenset(listed) if found else None


def run_covers_partition(
    tags: Mapping[str, str],
    key: PartitionKey,
    node_order: Sequence[str],
    listed: frozenset[str] | None = None,
) -> bool:
    """Whether a run with ``tags`` (a run of ``key``'s asset) fills partition ``key``.

    A range run whose config lists its partitions (``listed``, from
    :func:`listed_partitions`) fills those only: its range spans every node
    between its first and last, listed or not, and a request joined to it
    for a node in between would never be filled.
    """
    if tags.get(PARTITION_TAG) == partition_tag_value(key) or tags.get(
        DAGSTER_PARTITION_TAG
    ) == str(key):
        return True
    lo_tag, hi_tag = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not lo_tag or not hi_tag:
        return False
    if listed is not None:
        return str(key) in listed
    try:
        lo, hi = (PartitionKey.parse(key.interval, t) for t in (lo_tag, hi_tag))
    except InvalidRequestError:
        return False  # a range of some other partitioning: not ours to join
    if not lo.window_start <= key.window_start <= hi.window_start:
        return False
    # Nodes order as Dagster stores the dynamic partitions (insertion order).
    try:
        i, a, b = (node_order.index(n) for n in (key.node_id, lo.node_id, hi.node_id))
    except ValueError:
        return key.node_id == lo.node_id == hi.node_id
    return a <= i <= b
