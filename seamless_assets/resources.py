"""The ``seamless`` resource: where the bars are and where they come from.

Assets and sensors get the store, the fetcher and the node calendars from it,
so a test (or another deployment) swaps any of them by configuring the
resource, not by editing an asset. The store is ``seamless.yaml``'s ``store:``
(a LocalStore file, or a PostgresStore / QuestDBStore), and with
``coordinator:`` configured the fills claim windows from a
``PostgresCoordinator`` and the request table lives in its database.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from seamless_assets.config import DEFAULT_CALENDAR, SeamlessConfig
from seamless_assets.run_metrics import RunMetrics
from seamless_sdk.backfill.dagster import AnyRequestTable, open_request_table
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.calendars import Calendar, calendar_for
from seamless_sdk.config_backends import (
    CoordinatorConfig,
    LocalStoreConfig,
    PostgresStoreConfig,
    QuestDBStoreConfig,
    StoreConfig,
)
from seamless_sdk.coordination.postgres import PostgresCoordinator
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.sessions import in_sessions
from seamless_sdk.fetchers.spec import build_fetcher
from seamless_sdk.policy_settings import FingerprintPolicy
from seamless_sdk.sla import DEFAULT_JITTER_RATIO, DEFAULT_MAX_ATTEMPTS, DEFAULT_RETRY_BACKOFF_MS
from seamless_sdk.stores.base import BarStore


class SeamlessResource(dg.ConfigurableResource):
    """Store, fetcher, calendars and fill settings of the code location.

    ``store_kind`` is ``local`` (the LocalStore at ``store_path``), ``postgres``
    (``store_dsn``, ``store_pool_size``) or ``questdb`` (``questdb_ilp``,
    ``questdb_pg``, ``questdb_table_prefix``, ``lock_dsn``); a non-empty
    ``coordinator_dsn`` is a ``PostgresCoordinator`` (``coordinator_lease_s``,
    ``coordinator_max_failures``), which also holds the request table.
    """

    store_path: str
    requests_path: str
    store_kind: str = "local"
    store_dsn: str = ""
    store_pool_size: int = 4
    questdb_ilp: str = ""
    questdb_pg: str = ""
    questdb_table_prefix: str = "seamless"
    lock_dsn: str = ""  # empty: QuestDB's locks are per host
    coordinator_dsn: str = ""  # empty: no coordinator (each host's own locks)
    coordinator_lease_s: float = 30.0
    coordinator_max_failures: int = 5
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
    publish_fingerprint: bool = True  # seed 004's flags: seamless_sdk.policy_settings
    preview_fingerprint: bool = False
    early_fingerprint: bool = False

    _fetcher: Any = PrivateAttr(default=None)
    _coordinator: PostgresCoordinator | None = PrivateAttr(default=None)
    # Fill threads of one run ask for the coordinator at once: one opens it.
    _coordinator_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
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
        coordinator = config.coordinator
        return cls(
            store_path=str(config.store),
            requests_path=str(config.requests),
            **_store_fields(config.store_config),
            coordinator_dsn=coordinator.dsn if coordinator else "",
            coordinator_lease_s=coordinator.lease_s if coordinator else 30.0,
            coordinator_max_failures=coordinator.max_failures if coordinator else 5,
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
            publish_fingerprint=config.policy.fingerprints.publish,
            preview_fingerprint=config.policy.fingerprints.preview,
            early_fingerprint=config.policy.fingerprints.early,
        )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """In a run (not a sensor tick), start recording its metrics when
        ``metrics.multiprocess_dir`` is configured."""
        self._run_metrics = RunMetrics.for_run(self.metrics_dir, context.run, self.metrics_flush_s)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Write the run's metrics a last time (also when the run failed); close
        the coordinator's connections."""
        if self._run_metrics is not None:
            self._run_metrics.close()
            self._run_metrics = None
        if self._coordinator is not None:
            self._coordinator.close()
            self._coordinator = None

    def run_metrics(self) -> RunMetrics | None:
        """The metrics this run records its fills on, if any."""
        return self._run_metrics

    def fingerprint_policy(self) -> FingerprintPolicy:
        """Which window fingerprints materializations publish (``seamless:``
        ``publish_fingerprint``, ``preview_fingerprint``, ``early_fingerprint``)."""
        return FingerprintPolicy(
            publish=self.publish_fingerprint,
            preview=self.preview_fingerprint,
            early=self.early_fingerprint,
        )

    def store_config(self) -> StoreConfig:
        """The configured store, as ``seamless.yaml``'s ``store:`` model."""
        if self.store_kind == "postgres":
            return PostgresStoreConfig(
                kind="postgres", dsn=self.store_dsn, pool_size=self.store_pool_size
            )
        if self.store_kind == "questdb":
            return QuestDBStoreConfig(
                kind="questdb",
                ilp=self.questdb_ilp,
                pg=self.questdb_pg,
                table_prefix=self.questdb_table_prefix,
                lock_dsn=self.lock_dsn or None,
            )
        if self.store_kind != "local":
            raise InvalidRequestError(
                "store_kind", f"{self.store_kind!r} is not local, postgres or questdb"
            )
        return LocalStoreConfig(path=self.store_path)

    @contextmanager
    def open_store(self) -> Iterator[BarStore]:
        """The configured store, closed again when the block ends."""
        store = self.store_config().open()
        try:
            yield store
        finally:
            store.close()

    @contextmanager
    def open_requests(self) -> Iterator[AnyRequestTable]:
        """The backfill request table (in the coordinator's database when one is
        configured, else the SQLite file), closed again when the block ends."""
        table = open_request_table(self.requests_path, dsn=self.coordinator_dsn or None)
        try:
            yield table
        finally:
            table.close()

    def get_coordinator(self) -> PostgresCoordinator | None:
        """The coordinator the fills claim windows from (``fill_window(...,
        coordinator=)``), opened once per resource instance (a run) and closed
        at its end; None when none is configured."""
        if not self.coordinator_dsn:
            return None
        with self._coordinator_lock:
            if self._coordinator is not None:
                return self._coordinator
            config = CoordinatorConfig(
                kind="postgres",
                dsn=self.coordinator_dsn,
                lease_s=self.coordinator_lease_s,
                max_failures=self.coordinator_max_failures,
            )
            self._coordinator = config.open()
            return self._coordinator

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


def _store_fields(store: StoreConfig) -> dict[str, Any]:
    """The resource fields that name ``store`` (a LocalStore needs only ``store_path``)."""
    if isinstance(store, PostgresStoreConfig):
        return {
            "store_kind": "postgres",
            "store_dsn": store.dsn,
            "store_pool_size": store.pool_size,
        }
    if isinstance(store, QuestDBStoreConfig):
        return {
            "store_kind": "questdb",
            "questdb_ilp": store.ilp,
            "questdb_pg": store.pg,
            "questdb_table_prefix": store.table_prefix,
            "lock_dsn": store.lock_dsn or "",
        }
    return {"store_kind": "local"}
