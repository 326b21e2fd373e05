"""Node registration: the nodes listed in ``seamless.yaml`` become partitions.

Dagster only shows (and backfills, and tails) partitions of nodes in the
``nodes`` dynamic partitions. This sensor adds the configured nodes; other
nodes are added on purpose (``seamless nodes add``, ``seamless backfill
--register``, the SDK's Dagster backfiller for a read that asked), never
because the store happens to hold bars of them: a node removed with
``seamless nodes remove`` stays removed (``seamless_assets.nodes``).
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
    # Never register an invalid id, whoever listed it.
    for node in valid_nodes(candidates):
        if node not in seen:
            seen.add(node)
            out.append(node)
    return out


def build_nodes_sensor(configured: Sequence[str], *, interval_s: int) -> dg.SensorDefinition:
    """The registration sensor for the ``configured`` nodes."""

    @seamless_sensor(
        SENSOR_NAME,
        interval_s=interval_s,
        description="Adds the nodes listed in seamless.yaml to the 'nodes' partitions.",
    )
    def _sensor(context: dg.SensorEvaluationContext, seamless: SeamlessResource) -> dg.SensorResult:
        known = context.instance.get_dynamic_partitions(NODES_PARTITIONS)
        added = new_nodes(configured, known)
        if not added:
            return dg.SensorResult(skip_reason="every node is registered")
        context.log.info(f"registering {len(added)} node(s): {added[:10]}")
        return dg.SensorResult(
            dynamic_partitions_requests=[nodes_partitions.build_add_request(added)]
        )

    return _sensor
