"""The ``seamless`` resource: where the bars are and where they come from.

Assets and sensors get the store, the fetcher and the node calendars from it,
so a test (or another deployment) swaps any of them by configuring the
resource, not by editing an asset.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from seamless_assets.config import DEFAULT_CALENDAR, SeamlessConfig
from seamless_assets.run_metrics import RunMetrics
from seamless_assets.sessions import in_sessions
from seamless_sdk.backfill.dagster import RequestTable
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.calendars import Calendar, calendar_for
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.spec import build_fetcher
from seamless_sdk.sla import DEFAULT_JITTER_RATIO, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BACKOFF_MS
from seamless_sdk.stores.local import LocalStore


class SeamlessResource(dg.ConfigurableResource):
    """Store, fetcher, calendars and fill settings of the code location."""

    store_path: str
    requests_path: str
    reports_dir: str = ""  # empty: no JSON reports
    fetcher: str = "synthetic"
    partial_ok: bool = False
    fetch_attempts: int = DEFAULT_MAX_ATTEMPTS
    fetch_backoff_ms: float = DEFAULT_RETRY_BACKOFF_MS
    fetch_jitter_ratio: float = DEFAULT_JITTER_RATIO
    gx_check: bool = True
    fetch_concurrency: int = 4
    strict: bool = False
    tail_record_every_s: int = 900
    calendars: dict[str, str] = {}  # noqa: RUF012  (pydantic copies field defaults)
    metrics_dir: str = ""  # empty: runs record no metrics (seamless_assets.run_metrics)
    metrics_flush_s: float = 5.0

    _fetcher: Any = PrivateAttr(default=None)
    _run_metrics: RunMetrics | None = PrivateAttr(default=None)

    @classmethod
    def from_config(cls, config: SeamlessConfig) -> SeamlessResource:
        """The resource of ``config`` (the typed ``seamless.yaml``).

        ``backfill.gx_check: true`` without Great Expectations installed fails
        here, when the code location loads, not in every partition's run.
        """
        if config.backfill.gx_check and importlib.util.find_spec("great_expectations") is None:
            raise InvalidRequestError(
                "backfill.gx_check",
                "true, but Great Expectations is not installed: pip install 'seamless[gx]', "
                "or set gx_check: false",
            )
        return cls(
            store_path=str(config.store),
            requests_path=str(config.requests),
            reports_dir=str(config.reports or ""),
            fetcher=config.fetcher,
            partial_ok=config.backfill.partial_ok,
            fetch_attempts=config.backfill.fetch_attempts,
            fetch_backoff_ms=config.backfill.fetch_backoff_ms,
            fetch_jitter_ratio=config.backfill.fetch_jitter_ratio,
            gx_check=config.backfill.gx_check,
            fetch_concurrency=config.backfill.fetch_concurrency,
            strict=config.backfill.strict,
            tail_record_every_s=config.sensors.tail_record_every_s,
            calendars=config.calendars,
            metrics_dir=config.metrics.multiprocess_dir or "",
            metrics_flush_s=config.metrics.flush_s,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a run (not a sensor tick), start recording its metrics when
        ``metrics.multiprocess_dir`` is configured."""
        self._run_metrics = RunMetrics.for_run(self.metrics_dir, context.run, self.metrics_flush_s)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Write the run's metrics a last time (also when the run failed)."""
        if self._run_metrics is not None:
            self._run_metrics.close()
            self._run_metrics = None

    def run_metrics(self) -> RunMetrics | None:
        """The metrics this run records its fills on, if any."""
        return self._run_metrics

    @contextmanager
    def open_store(self) -> Iterator[LocalStore]:
        """The LocalStore, closed again when the block ends."""
        store = LocalStore(self.store_path)
        try:
            yield store
        finally:
            store.close()

    @contextmanager
    def open_requests(self) -> Iterator[RequestTable]:
        """The backfill request table, closed again when the block ends."""
        table = RequestTable(self.requests_path)
        try:
            yield table
        finally:
            table.close()

    def get_fetcher(self) -> Any:
        """The fetcher, built once per resource instance (i.e. once per run); the
        synthetic one serves the node's sessions only (``seamless_assets.sessions``)."""
        if self._fetcher is None:
            self._fetcher = in_sessions(build_fetcher(self.fetcher), self.calendar)
        return self._fetcher

    def calendar(self, node_id: str) -> Calendar:
        """The node's trading calendar (24/7 unless configured)."""
        return calendar_for(self.calendars.get(node_id, DEFAULT_CALENDAR))

    def fill_policy(self) -> FillPolicy:
        """The policy of this location's fills (a run's ``seamless/fill.*`` tags,
        set by the SDK's DagsterBackfiller from the read that asked, override it:
        ``FillPolicy.from_tags(run.tags, default=resource.fill_policy())``).
        Dagster's own RetryPolicy retries whole runs on top of this."""
        return FillPolicy(
            partial_ok=self.partial_ok,
            max_attempts=self.fetch_attempts,
            retry_backoff_ms=self.fetch_backoff_ms,
            jitter_ratio=self.fetch_jitter_ratio,
        )
