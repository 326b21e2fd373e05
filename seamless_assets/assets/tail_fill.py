"""The tail's quiet fills: new bars written without a Dagster event per partition.

A tail run of the bar asset writes, for every partition in its range, an
``ASSET_MATERIALIZATION_PLANNED`` event (Dagster plans each partition of a
range run), and a recorded partition adds its materialization and four check
evaluations; on SQLite each event costs milliseconds. Between two records of
a partition (``sensors.tail_record_every_s``) the tail only needs the new bars
stored, so the tail sensor sends those partitions to this job instead: a plain
op (no asset, so no planned events) that runs the same ``fill_window`` per
partition (fetch → conform → write, only the missing bars, nothing re-read)
and writes a fixed handful of run events whatever the partition count.

Bars that do not conform are not written (as always); the partition stays
uncovered, and once its record interval has passed the sensor sends it to the
asset, whose run records the failed checks.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (config, resources) at definition time.
import dagster as dg
from pydantic import Field

from seamless_assets.assets.partition import Unrecorded, fill_partitions
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import PartitionKey, asset_name
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import FetchError
from seamless_sdk.intervals import Interval


class TailFillConfig(dg.Config):
    """The partitions (``<node>|<window>`` keys of one interval) to bring up to date."""

    partitions: list[str] = Field(default_factory=list)


def tail_fill_name(interval: Interval) -> str:
    """The quiet fill job of ``interval``: ``bars_1m_tail_fill`` (its op adds ``_op``,
    the key of its run config: ``{"ops": {"bars_1m_tail_fill_op": {"config": ...}}}``)."""
    return f"{asset_name(interval)}_tail_fill"


def build_tail_fill_job(interval: Interval) -> dg.JobDefinition:
    """``bars_<interval>_tail_fill``: fill the listed partitions, record nothing."""
    name = tail_fill_name(interval)

    @dg.op(
        name=f"{name}_op",
        description=(
            f"Write the new {interval.name} bars of the listed partitions (no materialization, "
            "no check events: the tail records a partition at most every "
            "sensors.tail_record_every_s, through the asset)."
        ),
    )
    def _fill(
        context: dg.OpExecutionContext, config: TailFillConfig, seamless: SeamlessResource
    ) -> None:
        keys = [PartitionKey.parse(interval, k) for k in dict.fromkeys(config.partitions)]
        policy = FillPolicy.from_tags(context.run.tags, default=seamless.fill_policy())
        quiet = frozenset(str(k) for k in keys)
        failures: list[FetchError] = []
        rows = 0
        with seamless.open_store() as store:
            for item in fill_partitions(seamless, store, keys, policy=policy, unrecorded=quiet):
                if isinstance(item, Unrecorded):
                    rows += item.rows
                elif isinstance(item, FetchError):
                    context.log.error(str(item))
                    failures.append(item)
                else:  # bad bars: nothing was written; the asset's next record reports them
                    context.log.warning(f"{item.key}: {item.report.summary}")
        context.log.info(f"{rows} new bars in {len(keys)} partitions")
        if failures:
            raise failures[0]

    @dg.job(name=name, description=f"The tail's quiet fills of {interval.name} bars.")
    def _job() -> None:
        _fill()

    return _job
