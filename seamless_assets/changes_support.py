"""What the change tools (``seamless_sdk.changes``) need from the code location.

* :func:`partition_checks`: the asset checks a canary runs on both sides
  (the Great Expectations one too when the location has it on),
  the very functions the bar assets' checks call
  (``seamless_assets.checks.evaluate``), not a copy;
* :func:`record_window`: a promoted or reprocessed window reported to the
  Dagster instance as a runless materialization with the window's new
  fingerprint as its data version (what reconciliation reports for windows
  filled outside a run), so downstream assets see new data exactly where
  the content changed;
* :func:`open_instance`: the instance under ``DAGSTER_HOME``, or none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pandas as pd

from seamless_assets.checks.evaluate import (
    CheckOutcome,
    completeness_outcome,
    quality_outcome,
    schema_outcome,
)
from seamless_assets.coverage import coverage_event
from seamless_assets.home import open_home_instance
from seamless_sdk import settings
from seamless_sdk.backfill.dagster import PartitionKey, register_nodes
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.calendars import Calendar
from seamless_sdk.changes.canary import CheckEvaluator
from seamless_sdk.conformance import ConformanceReport
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import BarStore


def partition_checks(
    calendar_of: Callable[[str], Calendar], *, strict: bool, gx: bool = False
) -> CheckEvaluator:
    """The schema, completeness and quality checks of one window, as the asset runs
    them, and with ``gx`` (the location's ``backfill.gx_check``) the Great
    Expectations suite too."""

    def evaluate(
        key: PartitionKey,
        frame: pd.DataFrame,
        covered: RangeSet,
        report: ConformanceReport | None,
        now: float | None,
    ) -> Sequence[CheckOutcome]:
        interval, (start, end) = key.interval, key.window
        edge = min(end, interval.now_edge(now))
        expected = (
            calendar_of(key.node_id).expected_bars(interval, start, edge) if start < edge else []
        )
        outcomes = [
            schema_outcome(frame, report),
            completeness_outcome(
                epoch_seconds(frame["ts"]), expected, start, edge, covered, strict=strict
            ),
            quality_outcome(frame, report),
        ]
        if gx:
            from seamless_assets.checks.gx_bulk import gx_outcomes  # GX imports in ~2 s

            outcomes += gx_outcomes([frame], [key.window])
        return outcomes

    return evaluate


def record_window(
    instance: dg.DagsterInstance, store: BarStore, key: PartitionKey, *, source: str
) -> dg.AssetMaterialization:
    """Report ``key``'s window as ``store`` holds it now (new data version)."""
    register_nodes(instance, [key.node_id])
    event = coverage_event(store, key, source=source)
    instance.report_runless_asset_event(event)
    return event


@contextmanager
def open_instance() -> Iterator[dg.DagsterInstance | None]:
    """The persistent instance under ``$DAGSTER_HOME``; ``None`` without one (then
    nothing can be told, and the caller says so)."""
    if settings.dagster_home() is None:
        yield None
        return
    with open_home_instance() as instance:
        yield instance


def local_main_store(kind: str, path: str | Path, *, field: str = "store") -> Path:
    """The main store's LocalStore file; a server store is refused by name.

    Canary, promotion and reprocess work on a LocalStore main store (promotion
    reopens it by the path its report names). With ``store: {kind: postgres}``
    or ``questdb`` configured, acting on the local file beside the config would
    silently change the wrong store, so it is an error instead.
    """
    if kind != "local":
        raise InvalidRequestError(
            field,
            f"the configured store is a {kind} store; canary, promote and reprocess "
            "work on a LocalStore main store only",
        )
    return Path(path)
