"""Which nodes Dagster fills: the ``nodes`` dynamic partitions, managed on purpose.

A node becomes a partition (and gets its tail filled every minute) only when
it is listed in ``seamless.yaml`` (the nodes sensor registers those) or added
with ``seamless nodes add``; ``seamless nodes remove`` deletes the partition,
which stops its tail (the store keeps its bars). A node listed in
``seamless.yaml`` cannot be removed here: the nodes sensor would add it back
on its next tick, so it is removed from the file. ``seamless backfill`` of a
node that is neither registered nor configured is an error unless
``--register`` is given (:func:`check_known`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from seamless_sdk.backfill.dagster import NODES_PARTITIONS, register_nodes
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.request import validate_node_id


@dataclass(frozen=True, slots=True)
class NodeRow:
    """One node as ``seamless nodes list`` shows it."""

    node_id: str
    registered: bool
    configured: bool
    calendar: str


def list_nodes(instance: dg.DagsterInstance, config: SeamlessConfig) -> list[NodeRow]:
    """Registered nodes in Dagster's order, then configured ones not registered yet."""
    registered = list(instance.get_dynamic_partitions(NODES_PARTITIONS))
    calendars = config.calendars
    order = list(dict.fromkeys([*registered, *calendars]))
    known = set(registered)
    return [NodeRow(n, n in known, n in calendars, calendars.get(n, "24/7")) for n in order]


def add_nodes(instance: dg.DagsterInstance, node_ids: Sequence[str]) -> list[str]:
    """Register ``node_ids`` (validated); returns those that were not registered yet."""
    return register_nodes(instance, [validate_node_id(n) for n in node_ids])


def remove_nodes(
    instance: dg.DagsterInstance, config: SeamlessConfig, node_ids: Sequence[str]
) -> list[str]:
    """Delete the partitions of ``node_ids``; every id must be registered and not
    configured, else ``InvalidRequestError`` and nothing is removed."""
    wanted = list(dict.fromkeys(validate_node_id(n) for n in node_ids))
    configured = sorted(set(wanted) & set(config.calendars))
    if configured:
        where = config.source or "seamless.yaml"
        raise InvalidRequestError(
            "nodes",
            f"{configured} are listed in {where}: remove them there (the nodes sensor "
            "registers every configured node again)",
        )
    registered = set(instance.get_dynamic_partitions(NODES_PARTITIONS))
    unknown = [n for n in wanted if n not in registered]
    if unknown:
        raise InvalidRequestError("nodes", f"{unknown} are not registered")
    for node in wanted:
        instance.delete_dynamic_partition(NODES_PARTITIONS, node)
    return wanted


def known_nodes(instance: dg.DagsterInstance | None, config: SeamlessConfig) -> set[str]:
    """The nodes Dagster knows: configured in ``seamless.yaml``, or registered in
    ``instance`` (none without one)."""
    registered = instance.get_dynamic_partitions(NODES_PARTITIONS) if instance else []
    return set(registered) | set(config.calendars)


def check_known(
    instance: dg.DagsterInstance, config: SeamlessConfig, node_ids: Sequence[str]
) -> None:
    """``InvalidRequestError`` naming every node that is neither registered nor configured."""
    known = known_nodes(instance, config)
    unknown = [n for n in node_ids if n not in known]
    if unknown:
        raise InvalidRequestError(
            "nodes",
            f"{unknown} are not registered: add them with `seamless nodes add`, list them "
            "in seamless.yaml, or pass --register",
        )
