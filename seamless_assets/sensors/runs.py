"""What the sensors share: their decorator settings and run look-ups."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from seamless_sdk.backfill.dagster import IN_FLIGHT_STATUSES

FINISHED: frozenset[str] = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
"""Run statuses after which a run fills nothing more."""


def in_flight_runs_of(
    instance: dg.DagsterInstance, *, tags: dict[str, str] | None = None, limit: int = 1000
) -> list[dg.DagsterRun]:
    """Runs in any not-finished status (queued through canceling), newest first."""
    statuses = [dg.DagsterRunStatus(s) for s in IN_FLIGHT_STATUSES]
    return list(
        instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags=tags or {}), limit=limit)
    )


def seamless_sensor(
    name: str, *, interval_s: int, description: str, jobs: Sequence[object] = ()
) -> Callable[[Callable[..., Any]], dg.SensorDefinition]:
    """``dagster.sensor`` with what every Seamless sensor sets: on by default
    (a code location that is loaded keeps its windows filled) and ticking at
    most every ``interval_s`` seconds."""
    return dg.sensor(
        name=name,
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=list(jobs) or None,  # the nodes sensor launches no runs
        description=description,
    )
