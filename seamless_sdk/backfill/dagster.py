"""The Dagster backfiller: detached gaps become partition runs of ``seamless_assets``.

A strategy's read never waits on a Dagster run. ``DagsterBackfiller.request``
cuts the gaps into partition windows and records each window in the request
table, a small SQLite file next to the store whose UNIQUE key
``(node_id, interval, window_start, window_end)`` is the first of three dedup
layers: of many processes that miss the same window at the same moment, one
inserts the row and the others join it. The ``seamless_request_sensor`` of the
code location turns pending rows into runs with run keys (or, with
``submit="graphql"``, the inserting process submits the run through the
webserver at once). The queued run coordinator's tag limit of one run per
``seamless/partition`` value is the second layer, and the fill's coverage
re-check under the store's chunk lock the third.

The names shared with the code location (asset names, partition keys, tags)
live here too, so both sides agree on them without the SDK importing Dagster:
this module imports ``dagster`` only inside the functions that talk to an
instance.

Request row states::

    pending ──(sensor sees its run)──▶ launched ──(run finished)──▶ done | failed
       ▲                                                                │
       └──────────────(a later request for the same window)─────────────┘
"""

from __future__ import annotations

import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import Interval, parse_interval, window_floor, window_next
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun

# -- names shared with seamless_assets ---------------------------------------------
ASSET_PREFIX = "bars_"
NODES_PARTITIONS = "nodes"
NODE_DIMENSION = "node"
WINDOW_DIMENSION = "window"
PARTITION_TAG = "seamless/partition"
"""One run per value at a time (dagster.yaml): ``<asset>|<node>|<window key>``."""
REQUEST_TAG = "seamless/request"
"""``<row id>:<attempt>`` of the request row a run fills."""
SOURCE_TAG = "seamless/source"
"""Who asked for a run: ``sdk``, ``tail``, ``repair`` or ``cli``."""
# Dagster's own run tags for one partition and for a partition range (the
# strings Dagster's backfills and UI write; pinned by a unit test).
DAGSTER_PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
IN_FLIGHT_STATUSES: tuple[str, ...] = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
"""Every run status that is not finished: a run in any of them will still fill."""

_WINDOW_FORMATS = {"month": "%Y-%m", "year": "%Y"}


def asset_name(interval: Interval | str) -> str:
    """The Dagster asset of an interval: ``bars_1m``."""
    return ASSET_PREFIX + parse_interval(interval).name


def job_name(interval: Interval | str) -> str:
    """The partitioned asset job that materializes one interval's asset."""
    return f"{asset_name(interval)}_job"


def window_format(interval: Interval) -> str:
    """strftime format of the interval's partition keys (``%Y-%m`` or ``%Y``)."""
    return _WINDOW_FORMATS[interval.partition_unit]


def window_key(interval: Interval, window_start: int) -> str:
    """The time-dimension partition key of the window starting at ``window_start``."""
    return datetime.fromtimestamp(window_start, UTC).strftime(window_format(interval))


def window_of_key(interval: Interval, key: str) -> tuple[int, int]:
    """``[start, end)`` epoch seconds of a time-dimension partition key."""
    try:
        start = int(datetime.strptime(key, window_format(interval)).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise InvalidRequestError(
            "partition_key", f"{key!r} is not a {interval.partition_unit} key of {interval.name}"
        ) from None
    return start, window_next(start, interval.partition_unit)


def partition_key(node_id: str, interval: Interval, window_start: int) -> str:
    """The multi-partition key ``<node>|<window>`` (dimensions sorted by name)."""
    return f"{node_id}|{window_key(interval, window_start)}"


def split_partition_key(interval: Interval, key: str) -> tuple[str, int, int]:
    """``(node_id, window_start, window_end)`` of a multi-partition key."""
    node, sep, window = key.rpartition("|")
    if not sep:
        raise InvalidRequestError("partition_key", f"{key!r} is not '<node>|<window>'")
    start, end = window_of_key(interval, window)
    return validate_node_id(node), start, end


def partition_tag_value(node_id: str, interval: Interval, window_start: int) -> str:
    """The ``seamless/partition`` tag of a run that fills exactly one partition."""
    return f"{asset_name(interval)}|{partition_key(node_id, interval, window_start)}"


def partition_windows_touching(
    interval: Interval, ranges: RangeSet, *, now: float | None = None
) -> list[tuple[int, int]]:
    """Whole partition windows that ``ranges`` touch, oldest first, skipping any
    that start at or after the now edge (they hold no closed bar yet)."""
    edge = interval.now_edge(now)
    unit = interval.partition_unit
    out: list[tuple[int, int]] = []
    for s, e in ranges:
        cur = window_floor(s, unit)
        while cur < e and cur < edge:
            nxt = window_next(cur, unit)
            if not out or out[-1][0] < cur:
                out.append((cur, nxt))
            cur = nxt
    return out


def requests_path_for(store_path: str | Path) -> Path:
    """Default request-table file next to a store file: ``x.sqlite`` → ``x.requests.sqlite``."""
    path = Path(store_path)
    return path.with_name(f"{path.stem}.requests.sqlite")


# -- the request table --------------------------------------------------------------
RequestState = Literal["pending", "launched", "done", "failed"]
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
    UNIQUE (node_id, interval, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS backfill_requests_state ON backfill_requests (state);
"""

# One statement, so SQLite serialises it: the row is inserted, or revived when
# its last run finished, or left alone (RETURNING nothing) while it is in flight.
_UPSERT = """
INSERT INTO backfill_requests
    (node_id, interval, window_start, window_end, state, attempt, requested_at, updated_at)
VALUES (?, ?, ?, ?, ?, 0, ?, ?)
ON CONFLICT (node_id, interval, window_start, window_end) DO UPDATE
    SET state = excluded.state, attempt = attempt + 1, run_id = NULL,
        requested_at = excluded.requested_at, updated_at = excluded.updated_at
    WHERE state IN ('done', 'failed')
RETURNING id
"""
_COLUMNS = (
    "id, node_id, interval, window_start, window_end, state, attempt, run_id, "
    "requested_at, updated_at"
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
        return parse_interval(self.interval)


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
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the request table {self.path}: {exc}") from exc

    def submit(
        self,
        node_id: str,
        interval: Interval | str,
        windows: Iterable[tuple[int, int]],
        *,
        state: RequestState = "pending",
    ) -> list[Submission]:
        """Record ``windows`` of ``(node_id, interval)``; one Submission per window.

        New rows start ``pending`` (the sensor launches them) or, for a caller
        that launches the run itself, ``launched`` (the sensor leaves them be
        until their run shows up, or until they are stale).
        """
        if state not in ("pending", "launched"):
            raise InvalidRequestError("state", f"{state!r} is not 'pending' or 'launched'")
        node = validate_node_id(node_id)
        iv = parse_interval(interval)
        out: list[Submission] = []
        for start, end in windows:
            now = time.time()
            with self._lock:
                created = (
                    self._conn.execute(
                        _UPSERT, (node, iv.name, start, end, state, now, now)
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
        return [_row(r) for r in rows]

    def get(self, request_id: int) -> BackfillRequest | None:
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
        with self._lock:
            self._conn.close()


def _row(row: Sequence[Any]) -> BackfillRequest:
    return BackfillRequest(*row)


# -- the backfiller ----------------------------------------------------------------
SubmitMode = Literal["sensor", "graphql"]


class DagsterBackfiller:
    """A ``DetachedBackfiller`` whose fills are Dagster partition runs.

    ``requests_path`` is the request table (``requests_path_for(store path)``
    unless configured otherwise). With an ``instance`` (a ``DagsterInstance``)
    the backfiller also registers unknown nodes as dynamic partitions and joins
    runs already in flight for a window instead of asking again. ``submit``
    chooses who starts runs: ``"sensor"`` (the code location's request sensor,
    the default) or ``"graphql"`` (this process, through the webserver at
    ``graphql_url``, e.g. ``http://localhost:3000``).

    >>> # provider = SeamlessDataProvider(store, fetcher,
    >>> #     backfiller=DagsterBackfiller(requests_path_for("var/seamless.sqlite"),
    >>> #                                  instance=DagsterInstance.get()))
    """

    def __init__(
        self,
        requests_path: str | Path,
        *,
        instance: DagsterInstance | None = None,
        submit: SubmitMode = "sensor",
        graphql_url: str | None = None,
        location_name: str | None = None,
        clock: Any = time.time,
    ) -> None:
        if submit not in ("sensor", "graphql"):
            raise InvalidRequestError("submit", f"{submit!r} is not 'sensor' or 'graphql'")
        if submit == "graphql" and not graphql_url:
            raise InvalidRequestError("graphql_url", "is required when submit='graphql'")
        self.table = RequestTable(requests_path)
        self.instance = instance
        self.submit = submit
        self.graphql_url = graphql_url
        self.location_name = location_name
        self._clock = clock
        self._closed = False

    def request(self, node_id: str, interval: Interval, ranges: RangeSet) -> BackfillTicket:
        """Record the partition windows ``ranges`` touch; returns without waiting.

        Windows with a run in flight are joined (``attached``), windows already
        pending in the table likewise; the rest are new requests.
        """
        if self._closed:
            raise StoreError("the Dagster backfiller is closed")
        node = validate_node_id(node_id)
        iv = parse_interval(interval)
        windows = partition_windows_touching(iv, ranges, now=self._clock())
        if not windows:
            return BackfillTicket()
        attached: list[tuple[int, int]] = []
        run_ids: list[str] = []
        todo = windows
        if self.instance is not None:
            register_nodes(self.instance, [node])
            inflight = in_flight_runs(self.instance, node, iv, windows)
            todo = [w for w in windows if w not in inflight]
            for w, ids in inflight.items():
                attached.append(w)
                run_ids.extend(ids)
        # A row this process will launch itself is born "launched", so the
        # request sensor does not launch it a second time in the meantime.
        state: RequestState = "launched" if self.submit == "graphql" else "pending"
        for sub in self.table.submit(node, iv, todo, state=state):
            w = (sub.request.window_start, sub.request.window_end)
            if not sub.created:
                attached.append(w)
                if sub.request.run_id:
                    run_ids.append(sub.request.run_id)
            elif self.submit == "graphql":
                run_ids.append(self._submit_graphql(sub.request))
        return BackfillTicket(
            requested=RangeSet(windows),
            attached=RangeSet(attached),
            run_ids=tuple(dict.fromkeys(run_ids)),
        )

    def _submit_graphql(self, req: BackfillRequest) -> str:
        from urllib.parse import urlsplit

        from dagster_graphql import DagsterGraphQLClient

        url = urlsplit(self.graphql_url or "")
        client = DagsterGraphQLClient(
            url.hostname or "localhost", port_number=url.port, use_https=url.scheme == "https"
        )
        iv = req.parsed_interval
        try:
            with warnings.catch_warnings():
                # dagster-graphql's client still calls gql's deprecated execute() form.
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"gql\.")
                run_id = client.submit_job_execution(
                    job_name(iv),
                    repository_location_name=self.location_name,
                    tags=run_tags_for_request(req),
                )
        except Exception:  # any client failure: hand the row to the request sensor
            self.table.transition(req, "pending", None)
            raise
        self.table.transition(req, "launched", run_id)
        return run_id

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting requests. Runs already asked for go on in Dagster."""
        self._closed = True
        self.table.close()


def run_tags_for_request(req: BackfillRequest) -> dict[str, str]:
    """Tags of the single-partition run that serves a request row."""
    iv = req.parsed_interval
    return {
        DAGSTER_PARTITION_TAG: partition_key(req.node_id, iv, req.window_start),
        PARTITION_TAG: partition_tag_value(req.node_id, iv, req.window_start),
        REQUEST_TAG: req.key,
        SOURCE_TAG: "sdk",
    }


# -- instance helpers (dagster imported lazily) -------------------------------------
def register_nodes(instance: DagsterInstance, node_ids: Iterable[str]) -> list[str]:
    """Add nodes to the ``nodes`` dynamic partitions; returns the ones this call added.

    Safe when many processes register the same node at once: Dagster checks
    and inserts in two steps, so a loser of that race sees a unique-key error
    and simply looks again.
    """
    from sqlalchemy.exc import IntegrityError  # Dagster's SQL storages raise it

    wanted = list(dict.fromkeys(validate_node_id(n) for n in node_ids))
    for _ in range(5):
        known = set(instance.get_dynamic_partitions(NODES_PARTITIONS))
        new = [n for n in wanted if n not in known]
        if not new:
            return []
        try:
            instance.add_dynamic_partitions(NODES_PARTITIONS, new)
        except IntegrityError:
            continue  # registered by someone else meanwhile: look again
        return new
    raise StoreError(f"could not register nodes {wanted} as dynamic partitions")


def in_flight_runs(
    instance: DagsterInstance,
    node_id: str,
    interval: Interval,
    windows: Sequence[tuple[int, int]],
) -> dict[tuple[int, int], list[str]]:
    """Runs not finished yet that will fill any of ``windows``: window → run ids.

    A run counts when it targets this interval's asset and either carries the
    window's ``seamless/partition`` tag or Dagster's partition tag, or its
    partition range spans the window (ranges of a multi-partition asset are
    the cross product of a node range and a window range).
    """
    from dagster import DagsterRunStatus, RunsFilter

    runs = instance.get_runs(
        filters=RunsFilter(statuses=[DagsterRunStatus(s) for s in IN_FLIGHT_STATUSES]),
        limit=1000,
    )
    name = asset_name(interval)
    mine = [r for r in runs if _targets_asset(r, name)]
    if not mine:
        return {}
    nodes = list(instance.get_dynamic_partitions(NODES_PARTITIONS))
    found: dict[tuple[int, int], list[str]] = {}
    for w in windows:
        pk = partition_key(node_id, interval, w[0])
        for run in mine:
            if run_covers_partition(run.tags, name, pk, nodes):
                found.setdefault(w, []).append(run.run_id)
    return found


def _targets_asset(run: DagsterRun, name: str) -> bool:
    if run.asset_selection:
        return any(list(key.path) == [name] for key in run.asset_selection)
    return run.job_name == f"{name}_job"


def run_covers_partition(
    tags: Mapping[str, str], name: str, pk: str, node_order: Sequence[str]
) -> bool:
    """Whether a run with ``tags`` (of asset ``name``) fills partition ``pk``."""
    if tags.get(PARTITION_TAG) == f"{name}|{pk}" or tags.get(DAGSTER_PARTITION_TAG) == pk:
        return True
    lo, hi = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if not lo or not hi:
        return False
    node, _, window = pk.rpartition("|")
    lo_node, _, lo_window = lo.rpartition("|")
    hi_node, _, hi_window = hi.rpartition("|")
    # Window keys are fixed-width dates, so they order as strings; nodes order
    # as Dagster stores the dynamic partitions (insertion order).
    if not lo_window <= window <= hi_window:
        return False
    try:
        i, a, b = (node_order.index(n) for n in (node, lo_node, hi_node))
    except ValueError:
        return node == lo_node == hi_node
    return a <= i <= b
