"""The coordinator's tables, created on first use.

``backfill_jobs`` is seed 003 §5's job table, one row per canonical window,
unique on ``(node_id, interval, window_start, window_end)`` so that two hosts
racing to claim a window meet on one row (the claim locks it with ``SELECT
... FOR UPDATE``). ``backfill_coverage_versions`` holds the coverage version
counter per series. Every time is the database's ``clock_timestamp()``, so the
hosts' clocks never decide whether a lease is live.

Ranges are JSON arrays of ``[start, end)`` pairs in epoch seconds.
"""

from __future__ import annotations

SCHEMA_LOCK_ID = 0x5EA3_1E55_C00D
"""``pg_advisory_xact_lock`` key serialising the DDL: concurrent
``CREATE TABLE IF NOT EXISTS`` of one table can fail on the catalog's unique index."""

DDL = """
CREATE TABLE IF NOT EXISTS backfill_jobs (
    id               bigserial PRIMARY KEY,
    node_id          text        NOT NULL,
    "interval"       text        NOT NULL,
    window_start     bigint      NOT NULL,
    window_end       bigint      NOT NULL,
    state            text        NOT NULL DEFAULT 'PENDING',
    lease_token      uuid,
    lease_until      timestamptz,
    holder           text,
    coverage_version bigint      NOT NULL DEFAULT 0,
    completed_ranges jsonb       NOT NULL DEFAULT '[]',
    remaining_ranges jsonb       NOT NULL DEFAULT '[]',
    attempts         integer     NOT NULL DEFAULT 0,
    expirations      integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    quarantined      boolean     NOT NULL DEFAULT false,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT backfill_jobs_window UNIQUE (node_id, "interval", window_start, window_end),
    CONSTRAINT backfill_jobs_window_order CHECK (window_start < window_end),
    CONSTRAINT backfill_jobs_state CHECK (
        state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'EXPIRED', 'SKIPPED')
    ),
    CONSTRAINT backfill_jobs_running_has_lease CHECK (
        state <> 'RUNNING' OR (lease_token IS NOT NULL AND lease_until IS NOT NULL)
    )
);
CREATE INDEX IF NOT EXISTS backfill_jobs_quarantined
    ON backfill_jobs (updated_at) WHERE quarantined;
CREATE INDEX IF NOT EXISTS backfill_jobs_running
    ON backfill_jobs (lease_until) WHERE state = 'RUNNING';
CREATE TABLE IF NOT EXISTS backfill_coverage_versions (
    node_id    text   NOT NULL,
    "interval" text   NOT NULL,
    version    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, "interval")
);
"""

JOB_COLUMNS = (
    'node_id, "interval", window_start, window_end, state, quarantined, attempts, expirations,'
    " coverage_version, completed_ranges, remaining_ranges, holder,"
    " extract(epoch FROM lease_until)::float8, extract(epoch FROM next_attempt_at)::float8,"
    " last_error, extract(epoch FROM updated_at)::float8"
)
"""The columns a ``JobRecord`` is built from, in its field order."""

BUMP_VERSION = """
INSERT INTO backfill_coverage_versions (node_id, "interval", version) VALUES (%s, %s, 1)
ON CONFLICT (node_id, "interval")
DO UPDATE SET version = backfill_coverage_versions.version + 1
RETURNING version
"""
