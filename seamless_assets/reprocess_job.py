"""``seamless_reprocess_job``: re-fill stored windows from the Dagster UI (seed 003 §9).

The run config names the nodes, the interval and the range (the same as
``seamless reprocess``). The op re-fills every partition with the location's
fetcher and the schema in force (``seamless_sdk.changes.reprocess``): old
bars are served until the new ones commit, one transaction per partition,
and only partitions whose content changed get a new materialization (its
data version the new fingerprint). A run that failed or was terminated is
resumed by launching the same config again: the progress file under
``<store dir>/reprocess/`` says which partitions are done.
"""

# No `from __future__ import annotations`: Dagster reads the op's annotations
# (config and resource types) when the job is defined.

import dagster as dg

from seamless_assets.changes_support import local_main_store, record_window
from seamless_assets.cli import check_in_partitions
from seamless_assets.resources import SeamlessResource
from seamless_sdk.changes.reprocess import Reprocessed, reprocess, work_dir_for
from seamless_sdk.changes.windows import partition_keys
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.request import to_epoch_seconds
from seamless_sdk.stores.local import LocalStore

JOB_NAME = "seamless_reprocess_job"


class ReprocessRunConfig(dg.Config):
    """What to reprocess: the partitions of nodes × [start, end)."""

    nodes: list[str]
    start: str
    end: str
    interval: str = "1m"


def build_reprocess_job(location: SeamlessConfig) -> dg.JobDefinition:
    """The reprocess job of the code location built from ``location``."""

    @dg.op(name="seamless_reprocess", description="Re-fill windows with the current fetcher.")
    def reprocess_op(
        context: dg.OpExecutionContext, config: ReprocessRunConfig, seamless: SeamlessResource
    ) -> dg.Output[dict[str, int]]:
        iv = location.interval(config.interval)
        start = to_epoch_seconds(config.start, "start")
        end = to_epoch_seconds(config.end, "end")
        check_in_partitions(location, iv, start, end)
        keys = partition_keys(config.nodes, iv, start, end)
        store_path = local_main_store(seamless.store_kind, seamless.store_path).resolve()
        work_dir = work_dir_for(store_path.parent / "reprocess", keys, seamless.fetcher)
        store = LocalStore(store_path)
        try:

            def changed(item: Reprocessed) -> None:
                record_window(context.instance, store, item.key, source="reprocess")

            done = reprocess(
                store, seamless.get_fetcher(), keys, work_dir=work_dir,
                policy=seamless.fill_policy(), on_changed=changed,
                progress=lambda r: context.log.info(f"{r.key}: {r.outcome}"),
            )  # fmt: skip
        finally:
            store.close()
        counts = {o: sum(r.outcome == o for r in done) for o in ("changed", "unchanged", "failed")}
        metadata = {name: dg.MetadataValue.int(n) for name, n in counts.items()}
        if counts["failed"]:
            failed = [f"{r.key}: {r.error}" for r in done if r.outcome == "failed"]
            raise dg.Failure(
                f"{counts['failed']} partition(s) could not be re-filled",
                metadata={**metadata, "failed": dg.MetadataValue.json(failed)},
            )
        return dg.Output(counts, metadata=metadata)

    @dg.job(
        name=JOB_NAME,
        description="Re-fill stored windows with the current fetcher and schema; only "
        "partitions whose content changed get a new data version (seamless reprocess).",
    )
    def reprocess_job() -> None:
        reprocess_op()

    return reprocess_job
