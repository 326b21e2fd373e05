"""``DagsterBackfiller``: detached gaps become partition runs."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from seamless_sdk.backfill.base import BackfillTicket
from seamless_sdk.backfill.dagster.instance import (
    in_flight_runs,
    register_nodes,
    run_tags_for_request,
)
from seamless_sdk.backfill.dagster.names import job_name, partition_windows_touching
from seamless_sdk.backfill.dagster.requests import BackfillRequest, RequestState
from seamless_sdk.backfill.dagster.requests_pg import open_request_table
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.request import validate_node_id

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from seamless_sdk.coordination.postgres import PostgresCoordinator

SubmitMode = Literal["sensor", "graphql"]


class DagsterBackfiller:
    """A ``DetachedBackfiller`` whose fills are Dagster partition runs.

    ``requests_path`` is the request table (``requests_path_for(store path)``
    unless configured otherwise); with a ``coordinator`` (``PostgresCoordinator``)
    the table lives in the coordinator's database instead, shared by every
    host (``requests_path`` is then ignored and may be None). With an
    ``instance`` (a ``DagsterInstance``) the backfiller also registers unknown
    nodes as dynamic partitions and joins runs already in flight for a window
    instead of asking again. ``submit`` chooses who starts runs: ``"sensor"``
    (the code location's request sensor, the default) or ``"graphql"`` (this
    process, through the webserver at ``graphql_url``, e.g.
    ``http://localhost:3000``).

    >>> # provider = SeamlessDataProvider(store, fetcher,
    >>> #     backfiller=DagsterBackfiller(requests_path_for("var/seamless.sqlite"),
    >>> #                                  instance=DagsterInstance.get()))
    """

    def __init__(
        self,
        requests_path: str | Path | None = None,
        *,
        coordinator: PostgresCoordinator | None = None,
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
        self.table = open_request_table(
            requests_path, dsn=coordinator.dsn if coordinator is not None else None
        )
        self.instance = instance
        self.submit = submit
        self.graphql_url = graphql_url
        self.location_name = location_name
        self._clock = clock
        self._closed = False

    def request(
        self, node_id: str, interval: Interval, ranges: RangeSet, *, policy: FillPolicy
    ) -> BackfillTicket:
        """Record the partition windows ``ranges`` touch; returns without waiting.

        Windows with a run in flight are joined (``attached``), windows already
        pending in the table likewise; the rest are new requests, stored with
        ``policy`` (the read's), which their runs carry as ``seamless/fill.*``
        tags. A joined window fills with the policy of whoever asked first.
        """
        if self._closed:
            raise StoreError("the Dagster backfiller is closed")
        if not isinstance(policy, FillPolicy):
            raise InvalidRequestError("policy", f"{policy!r} is not a FillPolicy")
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
        for sub in self.table.submit(node, iv, todo, policy=policy, state=state):
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
