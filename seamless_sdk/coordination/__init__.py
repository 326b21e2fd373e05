"""Distributed single flight of backfills (seed 003 §5).

``base`` holds the interface (``Coordinator``, ``JobKey``, ``Lease``,
``ClaimRefused``, ``JobRecord``, ``JobState``), ``postgres`` the PostgreSQL
implementation, ``flight`` how a fill uses one, ``keeper`` the lease renewal
thread and ``commands`` the operator's quarantine commands. Nothing here
imports psycopg until a coordinator first talks to its database.
"""

from __future__ import annotations

from seamless_sdk.coordination.base import (
    ClaimRefused,
    Coordinator,
    JobKey,
    JobRecord,
    JobState,
    Lease,
)
from seamless_sdk.coordination.postgres import PostgresCoordinator

__all__ = [
    "ClaimRefused",
    "Coordinator",
    "JobKey",
    "JobRecord",
    "JobState",
    "Lease",
    "PostgresCoordinator",
]
