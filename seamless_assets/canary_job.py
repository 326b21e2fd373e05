"""``seamless_canary_job``: a canary backfill launched from the Dagster UI (Jobs → Launchpad).

The run config names the candidate fetcher, the nodes, the interval and the
range (the same as ``seamless canary``); the op fills the partitions into a
new shadow store next to the main one (``<store dir>/canary/<run id>/``),
runs the asset checks on both sides, compares them and writes the JSON
report. The run's output is the report's path, with the totals and the
verdict as metadata; a failing verdict fails the run (red in the UI), with
the same metadata. Promotion stays a deliberate step:
``seamless canary promote REPORT``.
"""

# No `from __future__ import annotations`: Dagster reads the op's annotations
# (config and resource types) when the job is defined.

import dagster as dg

from seamless_assets.changes_support import local_main_store, partition_checks
from seamless_assets.cli import check_in_partitions
from seamless_assets.resources import SeamlessResource
from seamless_sdk.changes.canary import run_canary
from seamless_sdk.changes.config import load_changes_config
from seamless_sdk.changes.windows import partition_keys
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.fetchers.sessions import in_sessions
from seamless_sdk.fetchers.spec import build_fetcher, parse_fetcher_spec
from seamless_sdk.request import to_epoch_seconds
from seamless_sdk.stores.local import LocalStore

JOB_NAME = "seamless_canary_job"


class CanaryRunConfig(dg.Config):
    """What to canary: a candidate fetcher over the partitions of nodes × [start, end)."""

    fetcher: str
    nodes: list[str]
    start: str
    end: str
    interval: str = "1m"
    changes_config: str = ""
    """A changes file (tolerances, thresholds); empty: ``$SEAMLESS_CHANGES_CONFIG`` or defaults."""


def build_canary_job(location: SeamlessConfig) -> dg.JobDefinition:
    """The canary job of the code location built from ``location``."""

    @dg.op(name="seamless_canary", description="Canary a candidate fetcher into a shadow store.")
    def canary_op(
        context: dg.OpExecutionContext, config: CanaryRunConfig, seamless: SeamlessResource
    ) -> dg.Output[str]:
        iv = location.interval(config.interval)
        start = to_epoch_seconds(config.start, "start")
        end = to_epoch_seconds(config.end, "end")
        check_in_partitions(location, iv, start, end)
        keys = partition_keys(config.nodes, iv, start, end)
        spec = str(parse_fetcher_spec(config.fetcher))
        changes = load_changes_config(config.changes_config or None)
        main_path = local_main_store(seamless.store_kind, seamless.store_path).resolve()
        run_dir = main_path.parent / "canary" / context.run_id
        checks = partition_checks(seamless.calendar, strict=seamless.strict, gx=seamless.gx_check)
        main = LocalStore(main_path, read_only=True)
        shadow = LocalStore(run_dir / "shadow.sqlite")
        try:
            report = run_canary(
                main, shadow, in_sessions(build_fetcher(spec), seamless.calendar), keys,
                fetcher_spec=spec, main_path=str(main_path),
                shadow_path=str(run_dir / "shadow.sqlite"), policy=seamless.fill_policy(),
                settings=changes.canary,
                checks=checks,
                progress=lambda item: context.log.info(
                    f"{item.key}: {len(item.comparison.differing)} differing bars"
                ),
            )  # fmt: skip
        finally:
            main.close()
            shadow.close()
        path = report.write(run_dir / "report.json")
        verdict = report.data["verdict"]
        metadata = {
            "report": dg.MetadataValue.path(str(path)),
            "passed": dg.MetadataValue.bool(verdict["passed"]),
            "reasons": dg.MetadataValue.json(verdict["reasons"]),
            "totals": dg.MetadataValue.json(dict(report.totals)),
            "promote": dg.MetadataValue.text(f"seamless canary promote {path}"),
        }
        if not verdict["passed"]:
            raise dg.Failure("canary failed: " + "; ".join(verdict["reasons"]), metadata=metadata)
        return dg.Output(str(path), metadata=metadata)

    @dg.job(
        name=JOB_NAME,
        description="Fill partitions with a candidate fetcher into a shadow store and compare "
        "them with the main store (seamless canary).",
    )
    def canary_job() -> None:
        canary_op()

    return canary_job
