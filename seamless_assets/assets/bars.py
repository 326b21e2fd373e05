"""The bar assets: one partitioned asset per configured interval.

``bars_1m`` holds 1-minute bars of every node, partitioned by node × month;
``bars_1h`` and ``bars_1d`` by node × year. Materializing a partition fills
that window of that node in the store. The function is thin: it walks the
run's partition keys (one, or a range when a backfill puts many partitions in
one run) and leaves the work to ``fill_partitions``, with the fill policy the
run's ``seamless/fill.*`` tags carry (set by the SDK from the read that asked)
over the location's default. It yields each partition's materialization as
its fill ends and the check evaluations in batches of up to
``CHECK_BATCH_ROWS`` bars (``evaluations.py``), so the Great Expectations
suite runs once per batch, not once per partition, and memory stays bounded.
"""

# No `from __future__ import annotations`: Dagster reads the decorated
# functions' annotations (context type, resources) at definition time.
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import dagster as dg
from pydantic import Field

from seamless_assets.assets.evaluations import evaluations
from seamless_assets.assets.partition import (
    Filled,
    Unrecorded,
    fill_partitions,
    materialization,
)
from seamless_assets.assets.targets import checked_until, latest_records
from seamless_assets.checks.expectations import warm_up
from seamless_assets.checks.specs import GX_CHECK, bar_check_specs
from seamless_assets.config import BackfillSettings
from seamless_assets.partitions import bars_partitions
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import SOURCE_TAG, PartitionKey, asset_name
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import FetchError, InvalidRequestError
from seamless_sdk.intervals import Interval

GROUP = "bars"
CHECK_BATCH_ROWS = 1_000_000
"""Stored bars whose checks are evaluated together (about 55 MB of frames; one
batch is checked while the next fills, so two may be held at once)."""


class BarsRunConfig(dg.Config):
    """Run config of a bar asset: ``partitions`` (optional) are the only keys of
    the run's partition range it fills, so one run fills scattered partitions
    (the tail sensor's nodes that need it) whatever lies between them."""

    partitions: list[str] = Field(default_factory=list)


def run_keys(partition_keys: list[str], listed: list[str]) -> list[str]:
    """The keys a run fills: ``listed`` (each inside the run's partitions), else all."""
    if not listed:
        return partition_keys
    inside = set(partition_keys)
    outside = [k for k in listed if k not in inside]
    if outside:
        raise InvalidRequestError(
            "partitions", f"{outside[:5]} are not partitions of this run's range"
        )
    return list(dict.fromkeys(listed))


def tail_state(
    instance: dg.DagsterInstance, key: dg.AssetKey, keys: list[str], every_s: int
) -> tuple[frozenset[str], dict[str, int]]:
    """For a tail run, from one event-log query: the keys materialized less than
    ``every_s`` seconds ago (not recorded this time), and for the others where
    their last run's checks ended (the Great Expectations check then runs on
    the bars from there on, the tail's new bars, not on the whole window)."""
    latest = latest_records(instance, key, keys)
    recent = time.time() - every_s
    quiet = frozenset(k for k, r in latest.items() if every_s > 0 and r.timestamp > recent)
    until = {k: t for k, r in latest.items() if k not in quiet and (t := checked_until(r))}
    return quiet, until


def build_bars_asset(
    interval: Interval, partition_start: int, settings: BackfillSettings
) -> dg.AssetsDefinition:
    """The asset ``bars_<interval>`` with its partitions, checks and policies."""
    name = asset_name(interval)
    key = dg.AssetKey(name)
    partitions_def = bars_partitions(interval, partition_start)

    @dg.asset(
        name=name,
        group_name=GROUP,
        partitions_def=partitions_def,
        check_specs=bar_check_specs(
            key, partitions_def, gx=settings.gx_check, strict=settings.strict
        ),
        # Events are yielded per partition (a range run fills many), so the
        # asset never returns an Output of its own.
        output_required=False,
        backfill_policy=dg.BackfillPolicy.multi_run(settings.max_partitions_per_run),
        retry_policy=dg.RetryPolicy(
            max_retries=settings.retries,
            delay=settings.retry_delay_s,
            backoff=dg.Backoff.EXPONENTIAL,
            jitter=dg.Jitter.PLUS_MINUS,
        ),
        kinds={"python"},
        description=(
            f"{interval.name} OHLCV bars of every node, partitioned by node × "
            f"{interval.partition_unit}. A materialization fetches, conforms and writes the "
            "window's missing bars (a covered window is skipped without fetching); its data "
            "version is the window's content fingerprint."
        ),
    )
    def _bars(
        context: dg.AssetExecutionContext, config: BarsRunConfig, seamless: SeamlessResource
    ) -> Iterator[dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.Output]:
        failures: list[FetchError] = []
        selected = context.selected_asset_check_keys
        if seamless.gx_check and any(k.name == GX_CHECK for k in selected):
            warm_up()  # GX's import (seconds) overlaps the fills instead of following them
        policy = FillPolicy.from_tags(context.run.tags, default=seamless.fill_policy())
        names = run_keys(list(context.partition_keys), config.partitions)
        keys = [PartitionKey.parse(interval, k) for k in names]
        tail = context.run.tags.get(SOURCE_TAG) == "tail"
        quiet, gx_from = (
            tail_state(context.instance, key, names, seamless.tail_record_every_s)
            if tail
            else (frozenset(), {})
        )

        def judged(batch: list[Filled]) -> list[dg.AssetCheckEvaluation]:
            return list(
                evaluations(seamless, context.instance, key, batch, selected, gx_from=gx_from)
            )

        # A full batch's checks run in one worker thread while the next batch
        # fills (GX and the fills both spend much of their time outside the
        # GIL); their events are still yielded here, after the batch's
        # materializations, in partition order.
        with (
            seamless.open_store() as store,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="seamless-checks") as checker,
        ):
            checking: Future[list[dg.AssetCheckEvaluation]] | None = None
            batch: list[Filled] = []
            rows = 0
            for item in fill_partitions(seamless, store, keys, policy=policy, unrecorded=quiet):
                if isinstance(item, Unrecorded):
                    continue
                if isinstance(item, FetchError):
                    # Fill the other partitions first; the run fails (and is retried)
                    # below, and the retry skips every window filled by now.
                    context.log.error(str(item))
                    failures.append(item)
                    continue
                event = materialization(key, item, seamless.fingerprint_policy())
                if event is not None:
                    yield event
                batch.append(item)
                rows += len(item.frame)
                if rows >= CHECK_BATCH_ROWS:
                    if checking is not None:
                        yield from checking.result()
                    checking = checker.submit(judged, batch)
                    batch, rows = [], 0
            if checking is not None:
                yield from checking.result()
            yield from judged(batch)
        # Checks are declared outputs: close them once, whatever partitions ran.
        for check_key in selected:
            yield dg.Output(
                None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
            )
        if failures:
            raise failures[0]

    return _bars
