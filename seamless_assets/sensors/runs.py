"""Run look-ups the sensors share."""

from __future__ import annotations

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
