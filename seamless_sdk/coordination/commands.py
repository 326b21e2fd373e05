"""Operator commands on quarantined windows, free of argparse.

The CLI (``seamless coordinator quarantine list|retry|skip``) is a thin layer
over these: each opens a :class:`PostgresCoordinator` on ``dsn``, does one
thing and closes it. ``key`` is a window's string form,
``"node_id|interval|window_start|window_end"`` (as ``list_quarantined``
prints it), or a :class:`JobKey`.

>>> # for job in list_quarantined("postgresql://seamless@db/seamless"):
>>> #     print(job.key, job.attempts, job.last_error)
>>> # retry("postgresql://seamless@db/seamless", "demo:BTC|1m|1700006400|1700092800")
"""

from __future__ import annotations

from seamless_sdk.coordination.base import JobKey, JobRecord
from seamless_sdk.coordination.postgres import PostgresCoordinator


def list_quarantined(dsn: str) -> list[JobRecord]:
    """Every quarantined window, in key order (``JobRecord.to_dict()`` for JSON)."""
    with PostgresCoordinator(dsn) as coordinator:
        return coordinator.quarantined()


def retry(dsn: str, key: JobKey | str) -> JobRecord:
    """Release a quarantined (or skipped, or backing-off) window: the next read or
    run that misses it claims it at once. Raises ``InvalidRequestError`` (field
    ``key``) for an unknown key or a window that is not failed or skipped."""
    with PostgresCoordinator(dsn) as coordinator:
        return coordinator.retry(key)


def skip(dsn: str, key: JobKey | str) -> JobRecord:
    """Stop trying a window: no fill claims it until ``retry``; reads report it
    missing. Raises ``InvalidRequestError`` for an unknown key or a window whose
    lease is live."""
    with PostgresCoordinator(dsn) as coordinator:
        return coordinator.skip(key)
