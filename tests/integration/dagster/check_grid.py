"""The asset check grid as the UI reads it: GraphQL ``partitionStatuses``.

The UI's *Checks → (check) → Partitions* view draws one cell per partition
from ``AssetCheck.partitionStatuses`` (a partition in no status list is drawn
Missing) and the execution history from ``assetCheckExecutions``. These
helpers send the same queries and flatten the answer to
``{partition key: status}`` per check.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from tests.integration.dagster.processes import graphql

CHECK_GRID = """
query CheckGrid($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      assetChecksOrError {
        __typename
        ... on AssetChecks {
          checks {
            name
            partitionKeysByDimension { name partitionKeys }
            partitionStatuses {
              __typename
              ... on AssetCheckMultiPartitionStatuses {
                primaryDimensionName
                ranges {
                  primaryDimStartKey
                  primaryDimEndKey
                  secondaryDim {
                    __typename
                    ... on AssetCheckDefaultPartitionStatuses {
                      succeededPartitions failedPartitions inProgressPartitions
                      skippedPartitions executionFailedPartitions
                    }
                    ... on AssetCheckTimePartitionStatuses {
                      ranges { startKey endKey status }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
"""

EXECUTIONS = """
query Executions($key: AssetKeyInput!, $check: String!, $partition: String) {
  assetCheckExecutions(assetKey: $key, checkName: $check, partition: $partition, limit: 5) {
    runId
    status
    evaluation { partition success targetMaterialization { storageId runId } }
  }
}
"""

_DEFAULT_LISTS = {
    "succeededPartitions": "SUCCEEDED",
    "failedPartitions": "FAILED",
    "inProgressPartitions": "IN_PROGRESS",
    "skippedPartitions": "SKIPPED",
    "executionFailedPartitions": "EXECUTION_FAILED",
}


def check_grid(port: int, asset: str) -> dict[str, dict[str, str]]:
    """Check name → {multi-partition key → status}; Missing partitions are absent."""
    node = graphql(port, CHECK_GRID, {"key": {"path": [asset]}})["assetNodeOrError"]
    assert node["__typename"] == "AssetNode", node
    checks = node["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    return {c["name"]: _flatten(c) for c in checks["checks"]}


def check_executions(port: int, asset: str, check: str, partition: str) -> list[dict[str, Any]]:
    """The execution history of one check on one partition, newest first."""
    data = graphql(
        port, EXECUTIONS, {"key": {"path": [asset]}, "check": check, "partition": partition}
    )
    return list(data["assetCheckExecutions"])


def _flatten(check: dict[str, Any]) -> dict[str, str]:
    statuses = check["partitionStatuses"]
    if statuses is None:
        return {}  # Dagster returns null while no partition has any status
    assert statuses["__typename"] == "AssetCheckMultiPartitionStatuses", statuses
    keys = {d["name"]: d["partitionKeys"] for d in check["partitionKeysByDimension"]}
    primary = statuses["primaryDimensionName"]
    (secondary,) = set(keys) - {primary}
    out: dict[str, str] = {}
    for r in statuses["ranges"]:
        for p in _span(keys[primary], r["primaryDimStartKey"], r["primaryDimEndKey"]):
            for s, status in _secondary(r["secondaryDim"], keys[secondary]).items():
                # Dagster spells the key; the test compares it with ours.
                out[str(dg.MultiPartitionKey({primary: p, secondary: s}))] = status
    return out


def _secondary(dim: dict[str, Any], keys: list[str]) -> dict[str, str]:
    if dim["__typename"] == "AssetCheckDefaultPartitionStatuses":
        return {k: status for field, status in _DEFAULT_LISTS.items() for k in dim[field]}
    return {k: r["status"] for r in dim["ranges"] for k in _span(keys, r["startKey"], r["endKey"])}


def _span(keys: list[str], first: str, last: str) -> list[str]:
    return keys[keys.index(first) : keys.index(last) + 1]
