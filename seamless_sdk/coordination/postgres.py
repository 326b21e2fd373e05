"""``PostgresCoordinator``: seamless single flight across hosts on one PostgreSQL.

Every host that can reach the database claims windows from the
``backfill_jobs`` table (see ``schema.py``). A claim is one short transaction
that locks the window's row (``INSERT ... ON CONFLICT DO NOTHING`` then
``SELECT ... FOR UPDATE``), so two hosts racing for a window are serialised by
PostgreSQL and exactly one gets the lease. Every later change of the row
(extend, progress, complete, fail) names the lease token in its ``WHERE``
clause: a holder whose lease expired and was re-claimed matches no row and
gets ``LeaseLostError``. Lease times are the database's clock, so clock skew
between hosts does not matter.

Failures back off exponentially per window (``backoff_base_s * 2**(n-1)``,
capped at ``backoff_max_s``, plus up to ``backoff_jitter`` of it) and a window
that failed ``max_failures`` times in a row is quarantined until an operator
retries or skips it (:meth:`retry`, :meth:`skip`, or ``commands.py``).
A lease that runs out because its holder died counts in ``expirations``, not
in ``attempts``: the next claim takes the window over at once.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seamless_sdk.checks import MAX_WAIT_S, check_number
from seamless_sdk.coordination._pool import ConnectionPool
from seamless_sdk.coordination.base import ClaimRefused, JobKey, JobRecord, JobState, Lease
from seamless_sdk.coordination.keeper import Held, LeaseKeeper
from seamless_sdk.coordination.schema import BUMP_VERSION, DDL, JOB_COLUMNS, SCHEMA_LOCK_ID
from seamless_sdk.errors import InvalidRequestError, LeaseLostError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id
from seamless_sdk.sla import MAX_ATTEMPTS

_KEY_WHERE = 'node_id = %s AND "interval" = %s AND window_start = %s AND window_end = %s'
_LEASE_WHERE = "id = %s AND lease_token = %s AND state = 'RUNNING'"


def _key_params(key: JobKey) -> tuple[str, str, int, int]:
    return (key.node_id, key.interval, key.window_start, key.window_end)


def _jsonb(ranges: RangeSet) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(ranges.to_list())


def _positive(name: str, value: float, high: float, *, integer: bool = False) -> float:
    """``value`` if it is a number in ``(0, high]`` (an int with ``integer``)."""
    if value is None or (integer and isinstance(value, float)):
        raise InvalidRequestError(
            name, f"{value!r} is not {'an integer' if integer else 'a number'}"
        )
    check_number(name, value, 0, high, integer=integer)
    if not value > 0:
        raise InvalidRequestError(name, f"{value!r} is not a positive number")
    return value


class PostgresCoordinator:
    """The distributed single flight of backfills (seed 003 §5) on PostgreSQL.

    ``dsn`` is a libpq URI. ``lease_s`` is how long a claim is good for before
    it must be renewed (fills renew it every ``lease_s / 3`` while they run, so
    it bounds how long a killed holder's window stays idle, not how long a
    fetch may take). ``backoff_base_s``/``backoff_max_s``/``backoff_jitter``
    space out the retries of a failing window and ``max_failures`` consecutive
    failures quarantine it. ``poll_s`` is the longest pause between two looks
    at a window another host is filling. The tables are created on first use.

    >>> # coordinator = PostgresCoordinator("postgresql://seamless@db/seamless")
    >>> # provider = SeamlessDataProvider(store=..., fetcher=..., coordinator=coordinator)
    """

    def __init__(
        self,
        dsn: str,
        *,
        lease_s: float = 30.0,
        backoff_base_s: float = 5.0,
        backoff_max_s: float = 3600.0,
        backoff_jitter: float = 0.1,
        max_failures: int = 5,
        poll_s: float = 0.1,
        holder: str | None = None,
    ) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            raise InvalidRequestError("dsn", f"{dsn!r} is not a libpq connection string")
        self.dsn = dsn
        self.lease_s = float(_positive("lease_s", lease_s, MAX_WAIT_S))
        self.backoff_base_s = float(_positive("backoff_base_s", backoff_base_s, MAX_WAIT_S))
        self.backoff_max_s = float(_positive("backoff_max_s", backoff_max_s, MAX_WAIT_S))
        check_number("backoff_jitter", backoff_jitter, 0, 1)
        self.backoff_jitter = float(backoff_jitter)
        self.max_failures = int(_positive("max_failures", max_failures, MAX_ATTEMPTS, integer=True))
        self.poll_s = float(_positive("poll_s", poll_s, MAX_WAIT_S))
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self._pool = ConnectionPool(dsn)
        self._keeper = LeaseKeeper(self.extend, self.lease_s / 3)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Stop renewing leases and close the connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._keeper.close()
        self._pool.close()

    def __enter__(self) -> PostgresCoordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _conn(self) -> Iterator[Any]:
        with self._pool.connection() as conn:
            if not self._schema_ready:
                self._create_schema(conn)
            yield conn

    def _create_schema(self, conn: Any) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                conn.execute(DDL)
            self._schema_ready = True

    # -- the fill's side ---------------------------------------------------------
    def coverage_version(self, node_id: str, interval: Interval | str) -> int:
        """The coverage version of a series now (0 before its first commit)."""
        name = parse_interval(interval).name
        with self._conn() as conn:
            row = conn.execute(
                "SELECT version FROM backfill_coverage_versions"
                ' WHERE node_id = %s AND "interval" = %s',
                (validate_node_id(node_id), name),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def claim(self, key: JobKey, coverage_version: int, wanted: RangeSet) -> Lease | ClaimRefused:
        """Take ``key`` to fill ``wanted`` as of ``coverage_version``, or say why not.

        Refused when the window is skipped or quarantined, when another holder's
        lease is live (``busy``), when it was committed after ``coverage_version``
        (``stale``) and while a failed window backs off. Otherwise a lease whose
        ``remaining`` is ``wanted`` less what an unfinished earlier attempt
        committed; an expired lease is taken over (``taken_over``).
        """
        wanted = RangeSet(wanted).intersect(key.span)
        if not wanted:
            raise InvalidRequestError("wanted", f"nothing inside the window {key}")
        token = str(uuid.uuid4())
        with self._conn() as conn, conn.transaction():
            conn.execute(
                'INSERT INTO backfill_jobs (node_id, "interval", window_start, window_end)'
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                _key_params(key),
            )
            row = conn.execute(
                "SELECT id, state, quarantined, coverage_version, completed_ranges, holder,"
                " extract(epoch FROM lease_until)::float8, lease_until < clock_timestamp(),"
                " extract(epoch FROM next_attempt_at)::float8,"
                " coalesce(next_attempt_at > clock_timestamp(), false)"
                f" FROM backfill_jobs WHERE {_KEY_WHERE} FOR UPDATE",
                _key_params(key),
            ).fetchone()
            job_id, state, quarantined, version, completed, holder, *timing = row
            until, expired, retry_at, backing_off = timing
            refusal = self._refusal(
                key,
                JobState(state),
                quarantined,
                expired,
                version,
                coverage_version,
                holder,
                until,
                retry_at,
                backing_off,
            )
            if refusal is not None:
                return refusal
            # A finished job starts over; an unfinished one (failed, expired, retried)
            # keeps what it committed so only the rest is fetched.
            done = RangeSet() if state == JobState.SUCCEEDED else RangeSet(completed)
            remaining = wanted.subtract(done)
            taken_over = state == JobState.RUNNING
            (lease_until,) = conn.execute(
                "UPDATE backfill_jobs SET state = 'RUNNING', lease_token = %s,"
                " lease_until = clock_timestamp() + make_interval(secs => %s), holder = %s,"
                " completed_ranges = %s, remaining_ranges = %s,"
                " expirations = expirations + %s,"
                " last_error = CASE WHEN %s THEN 'lease of ' || coalesce(holder, '?') || ' expired'"
                " ELSE last_error END, updated_at = clock_timestamp()"
                " WHERE id = %s RETURNING extract(epoch FROM lease_until)::float8",
                (
                    token,
                    self.lease_s,
                    self.holder,
                    _jsonb(done),
                    _jsonb(remaining),
                    int(taken_over),
                    taken_over,
                    job_id,
                ),
            ).fetchone()
        return Lease(
            key=key,
            token=token,
            job_id=int(job_id),
            lease_until=float(lease_until),
            lease_s=self.lease_s,
            coverage_version=coverage_version,
            remaining=remaining,
            completed=done,
            holder=self.holder,
            taken_over=taken_over,
        )

    @staticmethod
    def _refusal(
        key: JobKey,
        state: JobState,
        quarantined: bool,
        expired: bool | None,
        version: int,
        claimed_version: int,
        holder: str | None,
        lease_until: float | None,
        retry_at: float | None,
        backing_off: bool,
    ) -> ClaimRefused | None:
        if state is JobState.SKIPPED:
            return ClaimRefused(key, "skipped", version)
        if quarantined:
            return ClaimRefused(key, "quarantined", version)
        if state is JobState.RUNNING and not expired:
            return ClaimRefused(key, "busy", version, holder=holder, lease_until=lease_until)
        if version > claimed_version:
            return ClaimRefused(key, "stale", version)
        if state is JobState.FAILED and backing_off:
            return ClaimRefused(key, "backoff", version, retry_at=retry_at)
        return None

    def extend(self, lease: Lease) -> float:
        """Renew ``lease`` for another ``lease_s``; the new ``lease_until``.

        Raises ``LeaseLostError`` when its token no longer matches a running job.
        """
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE backfill_jobs"
                " SET lease_until = clock_timestamp() + make_interval(secs => %s),"
                f" updated_at = clock_timestamp() WHERE {_LEASE_WHERE}"
                " RETURNING extract(epoch FROM lease_until)::float8",
                (self.lease_s, lease.job_id, lease.token),
            ).fetchone()
        if row is None:
            raise LeaseLostError(str(lease.key))
        return float(row[0])

    def progress(self, lease: Lease, completed: RangeSet) -> int:
        """Record ``completed`` as committed to the store (moved from the job's
        remaining to its completed ranges), renew the lease, bump the series'
        coverage version and return it. ``LeaseLostError`` if the lease is stale."""
        return self._commit(lease, completed, finish=None)

    def complete(self, lease: Lease, remaining: RangeSet | None = None) -> int:
        """Mark the job SUCCEEDED (clearing failures and backoff); ``remaining`` is
        what the fill left uncovered on purpose (rejected bars), default nothing.
        Bumps the coverage version and returns it; ``LeaseLostError`` if stale."""
        return self._commit(lease, RangeSet(), finish=RangeSet(remaining or ()))

    def _commit(self, lease: Lease, completed: RangeSet, finish: RangeSet | None) -> int:
        key = lease.key
        with self._conn() as conn, conn.transaction():
            row = conn.execute(
                "SELECT completed_ranges, remaining_ranges FROM backfill_jobs"
                f" WHERE {_LEASE_WHERE} FOR UPDATE",
                (lease.job_id, lease.token),
            ).fetchone()
            if row is None:
                raise LeaseLostError(str(key))  # rolls the transaction back
            done = RangeSet(row[0]).union(completed.intersect(key.span))
            (version,) = conn.execute(BUMP_VERSION, (key.node_id, key.interval)).fetchone()
            if finish is None:
                conn.execute(
                    "UPDATE backfill_jobs SET completed_ranges = %s, remaining_ranges = %s,"
                    " coverage_version = %s,"
                    " lease_until = clock_timestamp() + make_interval(secs => %s),"
                    " updated_at = clock_timestamp() WHERE id = %s",
                    (
                        _jsonb(done),
                        _jsonb(RangeSet(row[1]).subtract(completed)),
                        version,
                        self.lease_s,
                        lease.job_id,
                    ),
                )
            else:
                conn.execute(
                    "UPDATE backfill_jobs SET state = 'SUCCEEDED', lease_token = NULL,"
                    " lease_until = NULL, completed_ranges = %s, remaining_ranges = %s,"
                    " coverage_version = %s, attempts = 0, next_attempt_at = NULL,"
                    " quarantined = false, last_error = NULL, updated_at = clock_timestamp()"
                    " WHERE id = %s",
                    (_jsonb(done), _jsonb(finish.intersect(key.span)), version, lease.job_id),
                )
        return int(version)

    def fail(self, lease: Lease, error: str) -> JobRecord:
        """Mark the job FAILED: its next attempt waits out an exponential backoff,
        and after ``max_failures`` consecutive failures it is quarantined. What it
        committed before failing stays in ``completed_ranges``.
        ``LeaseLostError`` if the lease is stale."""
        jitter = 1.0 + random.random() * self.backoff_jitter
        with self._conn() as conn:
            row = conn.execute(
                "UPDATE backfill_jobs SET state = 'FAILED', lease_token = NULL, lease_until = NULL,"
                " attempts = attempts + 1,"
                " next_attempt_at = clock_timestamp()"
                "   + make_interval(secs => least(%s * power(2, attempts), %s) * %s),"
                " quarantined = attempts + 1 >= %s, last_error = %s,"
                f" updated_at = clock_timestamp() WHERE {_LEASE_WHERE}"
                f" RETURNING {JOB_COLUMNS}",
                (
                    self.backoff_base_s,
                    self.backoff_max_s,
                    jitter,
                    self.max_failures,
                    error[:2000],
                    lease.job_id,
                    lease.token,
                ),
            ).fetchone()
        if row is None:
            raise LeaseLostError(str(lease.key))
        return _record(row)

    def hold(self, lease: Lease) -> Held:
        """Renew ``lease`` every ``lease_s / 3`` while the returned context is entered."""
        return self._keeper.hold(lease)

    def wait(
        self,
        key: JobKey,
        timeout_s: float | None = None,
        cancel: threading.Event | None = None,
    ) -> bool:
        """Poll until ``key`` has no live lease (its holder finished, failed or died);
        False if ``timeout_s`` ran out or ``cancel`` was set first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        pause = min(0.005, self.poll_s)
        while True:
            with self._conn() as conn:
                row = conn.execute(
                    "SELECT state = 'RUNNING' AND lease_until >= clock_timestamp()"
                    f" FROM backfill_jobs WHERE {_KEY_WHERE}",
                    _key_params(key),
                ).fetchone()
            if row is None or not row[0]:
                return True
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                pause = min(pause, left)
            if cancel is not None:
                if cancel.wait(pause):
                    return False
            else:
                time.sleep(pause)
            # Back off the polling, so a long fill costs a few queries a second.
            pause = min(pause * 2, self.poll_s)

    # -- operations ----------------------------------------------------------------
    def job(self, key: JobKey | str) -> JobRecord | None:
        """The row of ``key`` (a ``JobKey`` or its string form), if any."""
        key = JobKey.parse(key)
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM backfill_jobs WHERE {_KEY_WHERE}", _key_params(key)
            ).fetchone()
        return None if row is None else _record(row)

    def jobs(
        self, *, state: JobState | str | None = None, quarantined: bool | None = None
    ) -> list[JobRecord]:
        """Job rows, optionally of one ``state`` and/or quarantine flag, in key order."""
        where, params = ["true"], []
        if state is not None:
            where.append("state = %s")
            params.append(JobState(state).value)
        if quarantined is not None:
            where.append("quarantined = %s")
            params.append(bool(quarantined))
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM backfill_jobs WHERE {' AND '.join(where)}"
                ' ORDER BY node_id, "interval", window_start',
                params,
            ).fetchall()
        return [_record(r) for r in rows]

    def quarantined(self) -> list[JobRecord]:
        """Windows quarantined after repeated failures, waiting for an operator."""
        return self.jobs(quarantined=True)

    def retry(self, key: JobKey | str) -> JobRecord:
        """Let a failed (quarantined or backing off) or skipped window be claimed
        again now: back to PENDING with its failure count cleared; what it
        already committed is kept, so the next claim fetches only the rest."""
        return self._operate(
            key,
            "state = 'PENDING', quarantined = false, attempts = 0, next_attempt_at = NULL",
            "state IN ('FAILED', 'SKIPPED')",
            "only failed or skipped windows can be retried",
        )

    def skip(self, key: JobKey | str) -> JobRecord:
        """Give up on a window: SKIPPED, so no fill claims it (reads report it
        missing) until :meth:`retry`. A window with a live lease is refused."""
        return self._operate(
            key,
            "state = 'SKIPPED', quarantined = false, next_attempt_at = NULL,"
            " lease_token = NULL, lease_until = NULL",
            "(state <> 'RUNNING' OR lease_until < clock_timestamp())",
            "a window with a live lease cannot be skipped",
        )

    def reap_expired(self) -> int:
        """Mark RUNNING jobs whose lease ran out as EXPIRED; how many there were."""
        with self._conn() as conn:
            cur = conn.execute(
                "UPDATE backfill_jobs"
                " SET state = 'EXPIRED', lease_token = NULL, lease_until = NULL,"
                " expirations = expirations + 1,"
                " last_error = 'lease of ' || coalesce(holder, '?') || ' expired',"
                " updated_at = clock_timestamp()"
                " WHERE state = 'RUNNING' AND lease_until < clock_timestamp()"
            )
            return int(cur.rowcount)

    def _operate(self, key: JobKey | str, change: str, allowed: str, what: str) -> JobRecord:
        key = JobKey.parse(key)
        with self._conn() as conn:
            row = conn.execute(
                f"UPDATE backfill_jobs SET {change}, updated_at = clock_timestamp()"
                f" WHERE {_KEY_WHERE} AND {allowed} RETURNING {JOB_COLUMNS}",
                _key_params(key),
            ).fetchone()
        if row is not None:
            return _record(row)
        current = self.job(key)
        if current is None:
            raise InvalidRequestError("key", f"{key}: no such backfill job")
        raise InvalidRequestError("key", f"{key}: is {current.state.value}: {what}")


def _record(row: Any) -> JobRecord:
    (
        node_id,
        interval,
        start,
        end,
        state,
        quarantined,
        attempts,
        expirations,
        version,
        completed,
        remaining,
        holder,
        lease_until,
        next_attempt_at,
        last_error,
        updated_at,
    ) = row
    return JobRecord(
        key=JobKey(node_id, interval, int(start), int(end)),
        state=JobState(state),
        quarantined=bool(quarantined),
        attempts=int(attempts),
        expirations=int(expirations),
        coverage_version=int(version),
        completed=RangeSet(completed),
        remaining=RangeSet(remaining),
        holder=holder,
        lease_until=lease_until,
        next_attempt_at=next_attempt_at,
        last_error=last_error,
        updated_at=float(updated_at),
    )
