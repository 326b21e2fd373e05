"""``run_backfill``: materialize the partitions of a date range without the UI.

The command-line twin of a UI backfill: the same job, the same partitions,
the same per-run limit (``max_partitions_per_run`` partitions per run, of any
nodes: a run is a partition range whose run config lists exactly the
partitions it fills, so scattered nodes share runs too), executed in this
process against the Dagster instance of ``DAGSTER_HOME`` (an ephemeral one
when it is unset), so the runs, the materializations and the check results
show up in the UI afterwards.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg

from seamless_assets.checks.evaluate import iso
from seamless_assets.config import SeamlessConfig, load_config
from seamless_assets.home import open_home_instance
from seamless_assets.location import build_definitions
from seamless_assets.nodes import check_known
from seamless_assets.partitions import contiguous_groups
from seamless_assets.run_launcher import CLI_PROCESS_TAG, HOST_TAG
from seamless_sdk import settings
from seamless_sdk.backfill.dagster import (
    NODES_PARTITIONS,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    SOURCE_TAG,
    PartitionKey,
    asset_name,
    job_name,
    partition_tag_value,
    partition_windows_touching,
    register_nodes,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, window_floor
from seamless_sdk.pids import process_identity
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import to_epoch_seconds, validate_node_id


@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Reported after every run: ``done`` of ``total`` partitions are through."""

    done: int
    total: int
    run_id: str
    partition_keys: tuple[str, ...]
    success: bool


@dataclass(frozen=True, slots=True)
class BackfillSummary:
    """What ``run_backfill`` did."""

    run_ids: tuple[str, ...]
    partition_keys: tuple[str, ...]
    failed_runs: tuple[str, ...]

    @property
    def success(self) -> bool:
        return not self.failed_runs


def run_backfill(
    node_ids: Sequence[str],
    interval: str | Interval,
    start: Any,
    end: Any,
    *,
    progress: Callable[[BackfillProgress], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    instance: dg.DagsterInstance | None = None,
    config: SeamlessConfig | None = None,
    max_partitions_per_run: int | None = None,
    register: bool = False,
) -> BackfillSummary:
    """Fill every partition window of ``node_ids`` that ``[start, end)`` touches.

    ``start``/``end`` take anything a read takes (epoch seconds, datetimes,
    ISO strings). Windows already covered are skipped by the fill itself
    without fetching, so re-running a backfill is cheap. A node that is
    neither registered (``seamless nodes add``) nor in ``seamless.yaml`` is an
    ``InvalidRequestError`` unless ``register`` (``seamless backfill --register``).
    ``on_start`` gets the number of partitions once everything is checked and
    before the first run; ``progress`` is called after each run.

    >>> # run_backfill(["demo:BTCUSDT"], "1h", "2024-01-01", "2025-01-01",
    >>> #              progress=lambda p: print(f"{p.done}/{p.total}"))
    """
    cfg = config or load_config()
    iv = cfg.interval(interval)
    nodes = [validate_node_id(n) for n in dict.fromkeys(node_ids)]
    lo = to_epoch_seconds(start, "start")
    hi = to_epoch_seconds(end, "end")
    if lo >= hi:
        raise InvalidRequestError("end", f"{iso(hi)} is not after start {iso(lo)}")
    lo = max(lo, window_floor(cfg.partition_start, iv.partition_unit))
    windows = partition_windows_touching(iv, RangeSet.span(lo, hi)) if lo < hi else []
    per_run = max_partitions_per_run or cfg.backfill.max_partitions_per_run
    job = build_definitions(cfg).resolve_job_def(job_name(iv))
    total = len(nodes) * len(windows)
    run_ids: list[str] = []
    failed: list[str] = []
    keys: list[str] = []
    with _instance(instance) as inst:
        if not register:
            check_known(inst, cfg, nodes)
        register_nodes(inst, nodes)
        registered = inst.get_dynamic_partitions(NODES_PARTITIONS)
        if on_start is not None:
            on_start(total)
        for chunk in run_chunks(iv, nodes, [ws for ws, _ in windows], registered, per_run):
            chunk_keys = tuple(str(k) for k in chunk)
            result = job.execute_in_process(instance=inst, raise_on_error=False, **_run_args(chunk))
            run_ids.append(result.run_id)
            keys.extend(chunk_keys)
            if not result.success:
                failed.append(result.run_id)
            if progress is not None:
                done = BackfillProgress(len(keys), total, result.run_id, chunk_keys, result.success)
                progress(done)
    return BackfillSummary(tuple(run_ids), tuple(keys), tuple(failed))


def run_chunks(
    iv: Interval,
    nodes: Sequence[str],
    window_starts: Sequence[int],
    order: Sequence[str],
    per_run: int,
) -> list[list[PartitionKey]]:
    """The partitions of ``nodes`` × windows in runs of at most ``per_run``, each
    run exactly the partition range from its first to its last key: consecutive
    nodes of Dagster's ``order`` × consecutive windows. A range spans every
    node between its ends, and Dagster marks all of them failed when the run
    fails, so a range over nodes it does not fill showed them failed.

    >>> # run_chunks(iv, ["a", "b", "d"], [w0, w1], ["a", "b", "c", "d"], 4)
    >>> # -> [[a|w0, a|w1, b|w0, b|w1], [d|w0, d|w1]]
    """
    chunks: list[list[PartitionKey]] = []
    if not window_starts:
        return chunks
    per_node = max(1, per_run // len(window_starts))
    for group in contiguous_groups(nodes, order):
        if len(window_starts) > per_run:  # a node's windows alone fill runs
            for node in group:
                for i in range(0, len(window_starts), per_run):
                    part = window_starts[i : i + per_run]
                    chunks.append([PartitionKey(node, iv, ws) for ws in part])
            continue
        for i in range(0, len(group), per_node):
            chunks.append(
                [PartitionKey(n, iv, ws) for n in group[i : i + per_node] for ws in window_starts]
            )
    return chunks


def _worker_tags() -> dict[str, str]:
    """This process as the run's worker (it runs the run in process), so the
    daemon's run monitoring fails the run if this process is killed."""
    return {CLI_PROCESS_TAG: process_identity(os.getpid()), HOST_TAG: socket.gethostname()}


def _run_args(chunk: Sequence[PartitionKey]) -> dict[str, Any]:
    """One partition's run, or the range from the chunk's first key to its last
    (a chunk of :func:`run_chunks` is that whole range, in order), whose run
    config lists the chunk's partitions."""
    if len(chunk) == 1:
        (key,) = chunk
        return {
            "partition_key": str(key),
            "tags": {
                PARTITION_TAG: partition_tag_value(key),
                SOURCE_TAG: "cli",
                **_worker_tags(),
            },
        }
    iv = chunk[0].interval
    first, last = chunk[0], chunk[-1]
    return {
        "tags": {
            RANGE_START_TAG: str(first),
            RANGE_END_TAG: str(last),
            SOURCE_TAG: "cli",
            **_worker_tags(),
        },
        "run_config": {
            "ops": {asset_name(iv): {"config": {"partitions": [str(k) for k in chunk]}}}
        },
    }


@contextmanager
def _instance(instance: dg.DagsterInstance | None) -> Iterator[dg.DagsterInstance]:
    if instance is not None:
        yield instance
    elif settings.dagster_home() is not None:
        with open_home_instance() as inst:
            yield inst
    else:
        with dg.DagsterInstance.ephemeral() as inst:
            yield inst
