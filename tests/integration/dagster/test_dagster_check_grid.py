"""The check grid of the Dagster UI after a backfill (issue 8, defect 3).

Partitions are filled the way a UI backfill fills them (one run for a range
of partitions, plus single-partition runs), then a real webserver on the
instance answers the GraphQL the UI's *Checks → (check) → Partitions* view
sends. Every check partition of the backfilled window must read Passed, the
window fed bad bars must read Failed, and every execution must name the
materialization it checked ("Target materialization" in the history).
Before the fix the grid read Missing everywhere a materialization existed:
the evaluations named no target, so Dagster held them stale.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from seamless_assets.checks.specs import CHECK_NAMES
from seamless_sdk.backfill.dagster import RANGE_END_TAG, RANGE_START_TAG, register_nodes
from tests.integration.dagster.check_grid import check_executions, check_grid
from tests.integration.dagster.support import SeamlessEnv, webserver

pytestmark = pytest.mark.slow

BARS_1D = dg.AssetKey("bars_1d")
GOOD = ("demo:A|2024", "demo:A|2025", "demo:B|2024", "demo:B|2025")
BAD = "demo:BAD|2024"


def latest_storage_id(instance: dg.DagsterInstance, key: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=BARS_1D, asset_partitions=[key]), limit=1
    ).records
    assert records, f"no materialization of {key}"
    return records[0].storage_id


def test_every_backfilled_check_partition_reads_passed_and_a_bad_one_failed(
    seamless_env: SeamlessEnv, instance: dg.DagsterInstance, defs: dg.Definitions, tmp_path: Path
) -> None:
    register_nodes(instance, ["demo:A", "demo:B", "demo:BAD"])
    job = defs.resolve_job_def("bars_1d_job")
    ranged = job.execute_in_process(
        instance=instance, tags={RANGE_START_TAG: "demo:A|2024", RANGE_END_TAG: "demo:B|2025"}
    )
    # A second materialization of a partition must move its checks along with it.
    again = job.execute_in_process(instance=instance, partition_key="demo:A|2024")
    bad = job.execute_in_process(instance=instance, partition_key=BAD, raise_on_error=False)
    assert ranged.success and again.success and not bad.success
    bad_verdicts = {e.check_name: e.passed for e in bad.get_asset_check_evaluations()}
    assert bad_verdicts["quality_rules"] is False

    with webserver(seamless_env, tmp_path) as port:
        grid = check_grid(port, "bars_1d")
        history = {
            (check, key): check_executions(port, "bars_1d", check, key)
            for check in CHECK_NAMES
            for key in (*GOOD, BAD)
        }

    assert set(grid) == set(CHECK_NAMES)
    for check in CHECK_NAMES:
        assert {k: grid[check].get(k) for k in GOOD} == dict.fromkeys(GOOD, "SUCCEEDED"), check
        assert grid[check].get(BAD) == ("SUCCEEDED" if bad_verdicts[check] else "FAILED"), check
        # Partitions nobody filled stay Missing.
        assert set(grid[check]) == {*GOOD, BAD}, check
    assert grid["quality_rules"][BAD] == "FAILED"

    for (check, key), executions in history.items():
        latest = executions[0]
        assert latest["evaluation"]["partition"] == key
        target = latest["evaluation"]["targetMaterialization"]
        if key == BAD:
            assert target is None, "the bad window was never materialized"
            continue
        assert target is not None, f"{check} on {key}: no target materialization"
        assert int(target["storageId"]) == latest_storage_id(instance, key)
        assert target["runId"] == latest["runId"]
