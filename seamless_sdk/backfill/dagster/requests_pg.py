"""The request table on PostgreSQL: dedup layer 1 shared by every host.

The SQLite table (:mod:`.requests`) is one file on one host; strategies on
many hosts that miss the same window would each insert their own row there.
With a ``PostgresCoordinator`` configured, the table moves into the
coordinator's database (``backfill_requests``, beside ``backfill_jobs``) with
the same columns, the same UNIQUE key ``(node_id, interval, window_start,
window_end)`` and the same single-statement upsert: PostgreSQL serialises two
inserts of one key (the second waits for the first to commit, then takes the
conflict branch, whose ``WHERE`` leaves a pending row alone), so of any
number of processes on any number of hosts exactly one creates the row and
the others join it.

The API is :class:`~seamless_sdk.backfill.dagster.requests.RequestTable`'s;
errors are ``CoordinatorError`` (a ``StoreError``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from seamless_sdk.backfill.dagster.requests import (
    _COLUMNS,
    BackfillRequest,
    RequestState,
    RequestTable,
    Submission,
    _row,
    checked_rows,
)
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.coordination._pool import ConnectionPool
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.request import validate_node_id

SCHEMA_LOCK_ID = 0x5EA3_1E55_BF01
"""``pg_advisory_xact_lock`` key of this table's DDL (hosts opening it at once
would otherwise race on the catalog); not the coordinator's key, so neither
waits for the other's DDL."""

# "interval" is quoted: it is a keyword in PostgreSQL. Times are the client's
# clock, as in the SQLite table: the request sensor compares them with its
# own time.time() to find stale rows.
_DDL = """
CREATE TABLE IF NOT EXISTS backfill_requests (
    id           bigserial PRIMARY KEY,
    node_id      text             NOT NULL,
    "interval"   text             NOT NULL,
    window_start bigint           NOT NULL,
    window_end   bigint           NOT NULL,
    state        text             NOT NULL DEFAULT 'pending',
    attempt      integer          NOT NULL DEFAULT 0,
    run_id       text,
    requested_at double precision NOT NULL,
    updated_at   double precision NOT NULL,
    fill_policy  text,
    CONSTRAINT backfill_requests_window UNIQUE (node_id, "interval", window_start, window_end),
    CONSTRAINT backfill_requests_state CHECK (state IN ('pending', 'launched', 'done', 'failed'))
);
CREATE INDEX IF NOT EXISTS backfill_requests_state_idx ON backfill_requests (state);
"""

_PG_COLUMNS = _COLUMNS.replace("interval", '"interval"')

_UPSERT = f"""
INSERT INTO backfill_requests AS r
    (node_id, "interval", window_start, window_end, state, attempt, requested_at, updated_at,
     fill_policy)
VALUES (%s, %s, %s, %s, %s, 0, %s, %s, %s)
ON CONFLICT (node_id, "interval", window_start, window_end) DO UPDATE
    SET state = excluded.state, attempt = r.attempt + 1, run_id = NULL,
        requested_at = excluded.requested_at, updated_at = excluded.updated_at,
        fill_policy = excluded.fill_policy
    WHERE r.state IN ('done', 'failed')
RETURNING {_PG_COLUMNS}
"""
_KEY_WHERE = 'node_id = %s AND "interval" = %s AND window_start = %s AND window_end = %s'


class PostgresRequestTable:
    """The backfill request table in a PostgreSQL database (normally the
    coordinator's: ``PostgresRequestTable(coordinator.dsn)``).

    Safe across threads, processes and hosts. The table is created on open.

    >>> # table = PostgresRequestTable("postgresql://seamless@db/seamless")
    >>> # [s.created for s in table.submit("demo:BTC", "1h", [(0, 31536000)], policy=p)]
    """

    def __init__(self, dsn: str) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            raise InvalidRequestError("dsn", f"{dsn!r} is not a libpq connection string")
        self.dsn = dsn
        self._pool = ConnectionPool(dsn, max_idle=2)
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                conn.execute(_DDL)
        except BaseException:
            self._pool.close()
            raise

    def __repr__(self) -> str:
        return "PostgresRequestTable(...)"  # never the DSN: it may hold a password

    def submit(
        self,
        node_id: str,
        interval: Interval | str,
        windows: Iterable[tuple[int, int]],
        *,
        policy: FillPolicy,
        state: RequestState = "pending",
    ) -> list[Submission]:
        """Record ``windows`` of ``(node_id, interval)``; one Submission per window
        (see :meth:`RequestTable.submit`)."""
        if state not in ("pending", "launched"):
            raise InvalidRequestError("state", f"{state!r} is not 'pending' or 'launched'")
        if not isinstance(policy, FillPolicy):
            raise InvalidRequestError("policy", f"{policy!r} is not a FillPolicy")
        node = validate_node_id(node_id)
        iv = parse_interval(interval)
        stored_policy = json.dumps(policy.to_tags(), sort_keys=True)
        out: list[Submission] = []
        with self._pool.connection() as conn:
            for start, end in windows:
                now = time.time()
                row = conn.execute(
                    _UPSERT, (node, iv.name, start, end, state, now, now, stored_policy)
                ).fetchone()
                created = row is not None
                if row is None:
                    # Joined a row in flight: read it (committed: the upsert that
                    # lost the race waited for the winner's commit).
                    row = conn.execute(
                        f"SELECT {_PG_COLUMNS} FROM backfill_requests WHERE {_KEY_WHERE}",
                        (node, iv.name, start, end),
                    ).fetchone()
                out.append(Submission(_row(row), created))
        return out

    def requests(
        self, states: Sequence[RequestState] = ("pending", "launched"), limit: int = 1000
    ) -> list[BackfillRequest]:
        """Rows in ``states``, oldest request first."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_PG_COLUMNS} FROM backfill_requests WHERE state = ANY(%s) "
                "ORDER BY requested_at, id LIMIT %s",
                (list(states), limit),
            ).fetchall()
        return checked_rows(rows, self._fail_malformed)

    def _fail_malformed(self, request_id: Any) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE backfill_requests SET state = 'failed', updated_at = %s WHERE id = %s",
                (time.time(), request_id),
            )

    def get(self, request_id: int) -> BackfillRequest | None:
        """The row ``request_id``, or None."""
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_PG_COLUMNS} FROM backfill_requests WHERE id = %s", (request_id,)
            ).fetchone()
        return _row(row) if row else None

    def transition(self, request: BackfillRequest, state: RequestState, run_id: str | None) -> bool:
        """Move a row on, if nobody revived it meanwhile (compare-and-set on the attempt)."""
        with self._pool.connection() as conn:
            cur = conn.execute(
                "UPDATE backfill_requests SET state = %s, run_id = %s, updated_at = %s "
                "WHERE id = %s AND attempt = %s AND state NOT IN ('done', 'failed')",
                (state, run_id, time.time(), request.id, request.attempt),
            )
            return cur.rowcount == 1

    def close(self) -> None:
        """Close the connections; the table stays."""
        self._pool.close()


AnyRequestTable = RequestTable | PostgresRequestTable
"""Either back-end of the request table (they share one API)."""


def open_request_table(
    path: str | Path | None = None, *, dsn: str | None = None
) -> AnyRequestTable:
    """The request table: in the PostgreSQL database ``dsn`` (the coordinator's)
    when one is given, else the SQLite file ``path``."""
    if dsn:
        return PostgresRequestTable(dsn)
    if path is None:
        raise InvalidRequestError(
            "requests_path", "is required without a coordinator (the SQLite request table)"
        )
    return RequestTable(path)
