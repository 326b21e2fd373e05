"""Node registration: configured nodes and nodes with stored data become partitions.

Dagster only shows (and backfills) partitions of nodes in the ``nodes``
dynamic partitions. This sensor adds the nodes listed in the configuration
and every node the store holds data of (the SDK may have filled it in its own
process); ``seamless_sdk.backfill.dagster.register_nodes`` is the same step
for code that holds an instance (the SDK's Dagster backfiller, the CLI).
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (context type, resources) at definition time.
from collections.abc import Iterable, Sequence

import dagster as dg

from seamless_assets.partitions import nodes_partitions, valid_nodes
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.runs import seamless_sensor
from seamless_sdk.backfill.dagster import NODES_PARTITIONS

SENSOR_NAME = "seamless_nodes_sensor"


def new_nodes(candidates: Iterable[str], known: Iterable[str]) -> list[str]:
    """Valid candidates not known yet, first-seen order, invalid ids dropped."""
    seen = set(known)
    out: list[str] = []
    # A store written by hand may hold anything; never register an invalid id.
    for node in valid_nodes(candidates):
        if node not in seen:
            seen.add(node)
            out.append(node)
    return out


def build_nodes_sensor(configured: Sequence[str], *, interval_s: int) -> dg.SensorDefinition:
    """The registration sensor for ``configured`` nodes plus the store's nodes."""

    @seamless_sensor(
        SENSOR_NAME,
        interval_s=interval_s,
        description="Adds configured nodes and nodes with stored bars to the 'nodes' partitions.",
    )
    def _sensor(context: dg.SensorEvaluationContext, seamless: SeamlessResource) -> dg.SensorResult:
        with seamless.open_store() as store:
            stored = [node for node, _ in store.series()]
        known = context.instance.get_dynamic_partitions(NODES_PARTITIONS)
        added = new_nodes([*configured, *stored], known)
        if not added:
            return dg.SensorResult(skip_reason="every node is registered")
        context.log.info(f"registering {len(added)} node(s): {added[:10]}")
        return dg.SensorResult(
            dynamic_partitions_requests=[nodes_partitions.build_add_request(added)]
        )

    return _sensor
