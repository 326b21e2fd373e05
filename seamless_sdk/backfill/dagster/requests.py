"""The request table: the first dedup layer of Dagster backfills.

A small SQLite file next to the store whose UNIQUE key
``(node_id, interval, window_start, window_end)`` makes one process insert a
window and every other process that misses it at the same moment join it.

Each row also stores the ``FillPolicy`` of the read that asked (column
``fill_policy``, the policy's run tags as JSON), so the run that serves the row
fills the way that read said. A read that joins a row already pending or
launched joins its run, and with it the first request's policy; a row revived
after its run finished takes the new request's policy. Tables made before the
column existed get it on open (``ALTER TABLE ... ADD COLUMN``); their rows
carry no policy, so their runs fill with the code location's default."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from seamless_sdk.backfill.dagster.partition_key import PartitionKey
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.request import validate_node_id

RequestState = Literal["pending", "launched", "done", "failed"]

_log = logging.getLogger("seamless")


_FINISHED_STATES = ("done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backfill_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id TEXT NOT NULL,
    interval TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempt INTEGER NOT NULL DEFAULT 0,
    run_id TEXT,
    requested_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    fill_policy TEXT,
    UNIQUE (node_id, interval, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS backfill_requests_state ON backfill_requests (state);
"""
# Columns added after the first release, with their SQL types: an existing
# table gets each one that is missing when it is opened.
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("fill_policy", "TEXT"),)

# One statement, so SQLite serialises it: the row is inserted, or revived when
# its last run finished, or left alone (RETURNING nothing) while it is in flight.
_UPSERT = """
INSERT INTO backfill_requests
    (node_id, interval, window_start, window_end, state, attempt, requested_at, updated_at,
     fill_policy)
VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)
ON CONFLICT (node_id, interval, window_start, window_end) DO UPDATE
    SET state = excluded.state, attempt = attempt + 1, run_id = NULL,
        requested_at = excluded.requested_at, updated_at = excluded.updated_at,
        fill_policy = excluded.fill_policy
    WHERE state IN ('done', 'failed')
RETURNING id
"""
_COLUMNS = (
    "id, node_id, interval, window_start, window_end, state, attempt, run_id, "
    "requested_at, updated_at, fill_policy"
)


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """One row of the request table: a partition window somebody wants filled."""

    id: int
    node_id: str
    interval: str
    window_start: int
    window_end: int
    state: RequestState
    attempt: int
    run_id: str | None
    requested_at: float
    updated_at: float
    policy: FillPolicy | None = None
    """The fill policy of the read that asked; None for a row stored before
    policies were (its run fills with the code location's default)."""

    @property
    def key(self) -> str:
        """``<id>:<attempt>``: the ``seamless/request`` tag of the run that serves it."""
        return f"{self.id}:{self.attempt}"

    @property
    def run_key(self) -> str:
        """The sensor's run key: one run per row and attempt, whatever the tick."""
        return f"seamless-request-{self.id}-{self.attempt}"

    @property
    def parsed_interval(self) -> Interval:
        """The row's interval, parsed."""
        return parse_interval(self.interval)

    @property
    def partition(self) -> PartitionKey:
        """The partition whose window this row asks for."""
        return PartitionKey(self.node_id, self.parsed_interval, self.window_start)


@dataclass(frozen=True, slots=True)
class Submission:
    """What :meth:`RequestTable.submit` did with one window."""

    request: BackfillRequest
    created: bool
    """True when this call inserted (or revived) the row; False when it joined a
    row that was already pending or launched."""


class RequestTable:
    """The backfill request table (SQLite, WAL; safe across threads and processes).

    >>> # table = RequestTable("var/seamless.requests.sqlite")
    >>> # [s.created for s in table.submit("demo:BTC", "1h", [(0, 31536000)])]
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # isolation_level=None: every statement commits by itself; the upsert
            # is atomic on its own and nothing here needs a longer transaction.
            self._conn = sqlite3.connect(
                self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the request table {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        """Add the columns a table made by an older version lacks.

        ``BEGIN IMMEDIATE`` takes the write lock before looking, so of several
        processes opening an old table at once one adds a column and the
        others see it added.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(backfill_requests)")}
            for name, sql_type in _ADDED_COLUMNS:
                if name not in have:
                    self._conn.execute(
                        f"ALTER TABLE backfill_requests ADD COLUMN {name} {sql_type}"
                    )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def submit(
        self,
        node_id: str,
        interval: Interval | str,
        windows: Iterable[tuple[int, int]],
        *,
        policy: FillPolicy,
        state: RequestState = "pending",
    ) -> list[Submission]:
        """Record ``windows`` of ``(node_id, interval)``; one Submission per window.

        New rows start ``pending`` (the sensor launches them) or, for a caller
        that launches the run itself, ``launched`` (the sensor leaves them be
        until their run shows up, or until they are stale). ``policy`` is
        stored with every row this call creates or revives.
        """
        if state not in ("pending", "launched"):
            raise InvalidRequestError("state", f"{state!r} is not 'pending' or 'launched'")
        if not isinstance(policy, FillPolicy):
            raise InvalidRequestError("policy", f"{policy!r} is not a FillPolicy")
        node = validate_node_id(node_id)
        iv = parse_interval(interval)
        stored_policy = json.dumps(policy.to_tags(), sort_keys=True)
        out: list[Submission] = []
        for start, end in windows:
            now = time.time()
            with self._lock:
                created = (
                    self._conn.execute(
                        _UPSERT, (node, iv.name, start, end, state, now, now, stored_policy)
                    ).fetchone()
                    is not None
                )
                row = self._conn.execute(
                    f"SELECT {_COLUMNS} FROM backfill_requests WHERE node_id = ? AND interval = ? "
                    "AND window_start = ? AND window_end = ?",
                    (node, iv.name, start, end),
                ).fetchone()
            out.append(Submission(_row(row), created))
        return out

    def requests(
        self, states: Sequence[RequestState] = ("pending", "launched"), limit: int = 1000
    ) -> list[BackfillRequest]:
        """Rows in ``states``, oldest request first."""
        marks = ",".join("?" for _ in states)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM backfill_requests WHERE state IN ({marks}) "
                "ORDER BY requested_at, id LIMIT ?",
                (*states, limit),
            ).fetchall()
        return checked_rows(rows, self._fail_malformed)

    def _fail_malformed(self, request_id: Any) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE backfill_requests SET state = 'failed', updated_at = ? WHERE id = ?",
                (time.time(), request_id),
            )

    def get(self, request_id: int) -> BackfillRequest | None:
        """The row ``request_id``, or None."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM backfill_requests WHERE id = ?", (request_id,)
            ).fetchone()
        return _row(row) if row else None

    def transition(self, request: BackfillRequest, state: RequestState, run_id: str | None) -> bool:
        """Move a row on, if nobody revived it meanwhile (compare-and-set on the attempt)."""
        with self._lock:
            cur = self._conn.execute(
                "UPDATE backfill_requests SET state = ?, run_id = ?, updated_at = ? "
                "WHERE id = ? AND attempt = ? AND state NOT IN ('done', 'failed')",
                (state, run_id, time.time(), request.id, request.attempt),
            )
        return cur.rowcount == 1

    def close(self) -> None:
        """Close the connection; the file stays."""
        with self._lock:
            self._conn.close()


def _row(row: Sequence[Any]) -> BackfillRequest:
    """A row of ``_COLUMNS`` (either back-end's) as a BackfillRequest, checked:
    a row that is not one the SDK writes (an id, a node id, an interval, an
    aligned partition window, states, times, a JSON policy) is
    ``InvalidRequestError`` naming the column."""
    *fields, stored_policy = row
    rid, node, interval, start, end, state, attempt, run_id, requested, updated = fields
    if isinstance(rid, bool) or not isinstance(rid, int):
        raise InvalidRequestError("id", f"{rid!r} is not a row id")
    for name, value in (("window_start", start), ("window_end", end), ("attempt", attempt)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidRequestError(name, f"{value!r} is not an integer (row {rid})")
    for name, value in (("requested_at", requested), ("updated_at", updated)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequestError(name, f"{value!r} is not a time (row {rid})")
    if state not in get_args(RequestState):
        raise InvalidRequestError("state", f"{state!r} is not a request state (row {rid})")
    if run_id is not None and not isinstance(run_id, str):
        raise InvalidRequestError("run_id", f"{run_id!r} is not a run id (row {rid})")
    if not isinstance(interval, str):
        raise InvalidRequestError("interval", f"{interval!r} is not an interval (row {rid})")
    key = PartitionKey(validate_node_id(node), parse_interval(interval), start)
    if key.window != (start, end):
        raise InvalidRequestError(
            "window_start", f"[{start}, {end}) is not a partition window of {interval} (row {rid})"
        )
    return BackfillRequest(
        rid, node, interval, start, end, state, attempt, run_id, float(requested), float(updated),
        policy=_policy(stored_policy),
    )  # fmt: skip


def _policy(stored: object) -> FillPolicy | None:
    if stored is None:
        return None
    try:
        tags = json.loads(stored)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError("fill_policy", f"{stored!r} is not JSON: {exc}") from None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise InvalidRequestError("fill_policy", f"{stored!r} is not a mapping of run tags")
    # Every field is stored, so the default passed here is never consulted.
    return FillPolicy.from_tags(tags, default=FillPolicy())


def checked_rows(
    rows: Iterable[Sequence[Any]], fail: Callable[[Any], None]
) -> list[BackfillRequest]:
    """The rows that parse (:func:`_row`); the id of each one that does not is
    handed to ``fail`` (the table marks it failed) and the reason logged, so one
    damaged row cannot stop the sensor from serving the others on every tick."""
    out = []
    for row in rows:
        try:
            out.append(_row(row))
        except InvalidRequestError as exc:
            fail(row[0])
            _log.warning("request row %r is malformed and was marked failed: %s", row[0], exc)
    return out
