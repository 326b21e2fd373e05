"""Every Prometheus metric Seamless exposes, in one place.

The names are the seeds' (see DESIGN.md, "Observability names") and are
module constants here; nothing else in the code base spells a metric name.
``Metrics(registry)`` registers the collectors on ``registry`` the first time
and reuses them afterwards, so any number of providers can share a registry
without "Duplicated timeseries" errors.

Counters are exposed under exactly the constant's name (prometheus_client
strips a trailing ``_total`` and adds it back on exposition), plus the
client's usual ``*_created`` series.

The recording methods run on the read path: each caches its labelled child
per label tuple, so a call costs a dict lookup and one observation.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from seamless_sdk import settings

SLA_DEADLINE_SECONDS = "seamless_sla_deadline_seconds"
BACKFILL_WAIT_MS = "seamless_backfill_wait_ms"
BACKFILL_COMPLETION_RATIO = "backfill_completion_ratio"
BACKFILL_JOBS_IN_PROGRESS = "backfill_jobs_in_progress"
BACKFILL_LAST_TIMESTAMP = "backfill_last_timestamp"
BACKFILL_RETRY_TOTAL = "backfill_retry_total"
BACKFILL_FAILURE_TOTAL = "backfill_failure_total"
BACKFILL_FETCH_TOTAL = "seamless_backfill_fetch_total"
CONFORMANCE_FLAG_TOTAL = "seamless_conformance_flag_total"
READ_LATENCY_SECONDS = "seamless_read_latency_seconds"
READ_PARTIAL_RATIO = "seamless_read_partial_ratio"
CACHE_HITS_TOTAL = "seamless_cache_hits_total"
CACHE_MISSES_TOTAL = "seamless_cache_misses_total"
SLA_VIOLATION_TOTAL = "seamless_sla_violation_total"
# Seed 003 section 7, in Prometheus form. Ratios (SLA violations, partial
# reads, success rate) are derived in PromQL from the ``outcome`` label of
# READS_TOTAL rather than kept as gauges, so they aggregate across processes.
READS_TOTAL = "seamless_reads_total"
READ_SOURCE_TOTAL = "seamless_read_source_total"
BACKFILL_QUEUE_LENGTH = "seamless_backfill_queue_length"
BACKFILL_DURATION_SECONDS = "seamless_backfill_duration_seconds"
BACKFILL_WINDOWS_TOTAL = "seamless_backfill_windows_total"
JOB_RETRIES_TOTAL = "seamless_job_retries_total"
LOCK_CONTENTION_TOTAL = "seamless_lock_contention_total"
SINGLE_FLIGHT_COLLISIONS_TOTAL = "seamless_single_flight_collisions_total"

METRIC_NAMES: tuple[str, ...] = (
    SLA_DEADLINE_SECONDS,
    BACKFILL_WAIT_MS,
    BACKFILL_COMPLETION_RATIO,
    BACKFILL_JOBS_IN_PROGRESS,
    BACKFILL_LAST_TIMESTAMP,
    BACKFILL_RETRY_TOTAL,
    BACKFILL_FAILURE_TOTAL,
    BACKFILL_FETCH_TOTAL,
    CONFORMANCE_FLAG_TOTAL,
    READ_LATENCY_SECONDS,
    READ_PARTIAL_RATIO,
    CACHE_HITS_TOTAL,
    CACHE_MISSES_TOTAL,
    SLA_VIOLATION_TOTAL,
    READS_TOTAL,
    READ_SOURCE_TOTAL,
    BACKFILL_QUEUE_LENGTH,
    BACKFILL_DURATION_SECONDS,
    BACKFILL_WINDOWS_TOTAL,
    JOB_RETRIES_TOTAL,
    LOCK_CONTENTION_TOTAL,
    SINGLE_FLIGHT_COLLISIONS_TOTAL,
)
"""Every metric family name, as exposed by ``generate_latest``."""

READ_OUTCOMES: tuple[str, ...] = ("complete", "partial", "sla_violation")
"""Values of ``seamless_reads_total{outcome}``: a read that answered with every
bar, one that answered with ``meta.missing`` set, and one whose SLA budget ran
out (whether or not it is also partial: the violation is what an operator pages on)."""

NODE_LABEL_OFF = ""
"""The ``node_id`` label value when per-node labels are switched off
(``SEAMLESS_METRICS_NODE_LABELS=0``). Prometheus drops empty labels at
ingestion, so every node's samples land in one series per family."""

_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_MS_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
_RATIO_BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
_NODE_INTERVAL = ("node_id", "interval")
_NODE_INTERVAL_LEASE = ("node_id", "interval", "lease_key")
MAX_LEASE_SERIES = 256
"""``backfill_completion_ratio{lease_key}`` series kept per registry: one per
window this process filled under a coordinator, oldest dropped first, so a long
backfill does not grow the exposition without bound."""


def _label(value: Any) -> str:
    # Enums (Strategy, Source) label by value, Interval objects by their name.
    return str(value.value) if isinstance(value, Enum) else str(value)


class _Family:
    """One labelled metric plus a cache of its children by raw label values."""

    __slots__ = ("_children", "metric")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, *key: Any) -> Any:
        found = self._children.get(key)
        if found is None:
            # A race here only builds the same child twice: labels() is idempotent.
            found = self.metric.labels(*[_label(v) for v in key])
            self._children[key] = found
        return found


@dataclass
class _Collectors:
    """The collectors registered on one registry."""

    phase: _Family
    backfill_wait: _Family
    completion: _Family
    in_progress: _Family
    last_timestamp: _Family
    retries: _Family
    failures: _Family
    fetches: _Family
    flags: _Family
    read_latency: _Family
    partial_ratio: _Family
    violations: _Family
    cache_hits: Counter
    cache_misses: Counter
    lease_completion: _Family
    reads: _Family
    read_sources: _Family
    queue_length: _Family
    backfill_duration: _Family
    windows: _Family
    job_retries: _Family
    lock_contention: _Family
    collisions: _Family
    lease_keys: dict[tuple[str, str, str], None] = field(default_factory=dict)
    high_water: dict[tuple[str, str], float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _build(registry: CollectorRegistry) -> _Collectors:
    r = registry
    collectors = _Collectors(
        phase=_Family(
            Histogram(
                SLA_DEADLINE_SECONDS,
                "Time spent per request phase (storage, backfill, live, total), seconds.",
                ("node_id", "phase"),
                registry=r,
                buckets=_SECONDS_BUCKETS,
            )
        ),
        backfill_wait=_Family(
            Histogram(
                BACKFILL_WAIT_MS,
                "Time a read waited for a backfill, milliseconds.",
                _NODE_INTERVAL,
                registry=r,
                buckets=_MS_BUCKETS,
            )
        ),
        # Both label sets of backfill_completion_ratio live in unregistered gauges
        # and are exposed as one family by _CompletionCollector (registered below).
        completion=_Family(
            Gauge(BACKFILL_COMPLETION_RATIO, _COMPLETION_DOC, _NODE_INTERVAL, registry=None)
        ),
        in_progress=_Family(
            Gauge(
                BACKFILL_JOBS_IN_PROGRESS,
                "Backfill jobs running now.",
                _NODE_INTERVAL,
                registry=r,
                multiprocess_mode="livesum",
            )
        ),
        last_timestamp=_Family(
            Gauge(
                BACKFILL_LAST_TIMESTAMP,
                "Highest end of a committed backfill window, epoch seconds.",
                _NODE_INTERVAL,
                registry=r,
                multiprocess_mode="max",
            )
        ),
        retries=_Family(
            Counter(BACKFILL_RETRY_TOTAL, "Backfill fetch retries.", _NODE_INTERVAL, registry=r)
        ),
        failures=_Family(
            Counter(
                BACKFILL_FAILURE_TOTAL,
                "Backfill windows that failed after every retry.",
                _NODE_INTERVAL,
                registry=r,
            )
        ),
        fetches=_Family(
            Counter(BACKFILL_FETCH_TOTAL, "Calls made to the fetcher.", _NODE_INTERVAL, registry=r)
        ),
        flags=_Family(
            Counter(
                CONFORMANCE_FLAG_TOTAL,
                "Rows flagged by the conformance pipeline, per flag.",
                ("node_id", "flag"),
                registry=r,
            )
        ),
        read_latency=_Family(
            Histogram(
                READ_LATENCY_SECONDS,
                "End-to-end latency of a read, seconds.",
                ("strategy", "interval"),
                registry=r,
                buckets=_SECONDS_BUCKETS,
            )
        ),
        partial_ratio=_Family(
            Histogram(
                READ_PARTIAL_RATIO,
                "Fraction of a read's requested range that was missing from the result.",
                ("strategy",),
                registry=r,
                buckets=_RATIO_BUCKETS,
            )
        ),
        violations=_Family(
            Counter(
                SLA_VIOLATION_TOTAL, "Requests whose SLA budget ran out.", ("phase",), registry=r
            )
        ),
        cache_hits=Counter(CACHE_HITS_TOTAL, "Reads served from the cache.", registry=r),
        cache_misses=Counter(CACHE_MISSES_TOTAL, "Reads the cache could not serve.", registry=r),
        lease_completion=_Family(
            Gauge(BACKFILL_COMPLETION_RATIO, _COMPLETION_DOC, _NODE_INTERVAL_LEASE, registry=None)
        ),
        **_build_section7(r),
    )
    r.register(
        _CompletionCollector(collectors.completion.metric, collectors.lease_completion.metric)
    )
    return collectors


_COMPLETION_DOC = "Fraction of the requested backfill windows committed so far."


def _build_section7(r: CollectorRegistry) -> dict[str, _Family]:
    """Seed 003 section 7's metrics. None has a ``node_id`` label: they are the
    ones an alert aggregates, and stay a few series per interval for any universe."""
    return {
        "reads": _Family(
            Counter(
                READS_TOTAL,
                "Reads that answered, by outcome (complete, partial, sla_violation).",
                ("strategy", "strict", "interval", "outcome"),
                registry=r,
            )
        ),
        "read_sources": _Family(
            Counter(
                READ_SOURCE_TOTAL,
                "Reads each source (cache, storage, backfill, live) contributed bars to.",
                ("source", "strategy", "interval"),
                registry=r,
            )
        ),
        "queue_length": _Family(
            Gauge(
                BACKFILL_QUEUE_LENGTH,
                "Backfill jobs queued or running in this process.",
                ("interval",),
                registry=r,
                multiprocess_mode="livesum",
            )
        ),
        "backfill_duration": _Family(
            Histogram(
                BACKFILL_DURATION_SECONDS,
                "Time from a backfill job's submission to its resolution, seconds.",
                ("interval", "outcome"),
                registry=r,
                buckets=_SECONDS_BUCKETS,
            )
        ),
        "windows": _Family(
            Counter(
                BACKFILL_WINDOWS_TOTAL,
                "Backfill windows by outcome: success (committed) or failure (after every retry).",
                ("interval", "outcome"),
                registry=r,
            )
        ),
        "job_retries": _Family(
            Counter(JOB_RETRIES_TOTAL, "Retried backfill fetches.", ("interval",), registry=r)
        ),
        "lock_contention": _Family(
            Counter(
                LOCK_CONTENTION_TOTAL,
                "Lock acquisitions that found the lock held and had to wait.",
                ("lock",),
                registry=r,
            )
        ),
        "collisions": _Family(
            Counter(
                SINGLE_FLIGHT_COLLISIONS_TOTAL,
                "Backfill requests that joined an identical job already in flight.",
                ("interval",),
                registry=r,
            )
        ),
    }


class _CompletionCollector(Collector):
    """``backfill_completion_ratio`` with both of its label sets in one family:
    ``{node_id,interval}`` (a provider's fills) and ``{node_id,interval,lease_key}``
    (each window filled under a coordinator lease). prometheus_client fixes one
    label set per metric, so the two gauges are kept unregistered and merged here."""

    def __init__(self, *gauges: Gauge) -> None:
        self._gauges = gauges

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(BACKFILL_COMPLETION_RATIO, _COMPLETION_DOC)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(BACKFILL_COMPLETION_RATIO, _COMPLETION_DOC)
        for gauge in self._gauges:
            for metric in gauge.collect():
                family.samples.extend(metric.samples)
        yield family


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, _Collectors] = (
    weakref.WeakKeyDictionary()
)
_BY_REGISTRY_LOCK = threading.Lock()


def _collectors_for(registry: CollectorRegistry) -> _Collectors:
    with _BY_REGISTRY_LOCK:
        found = _BY_REGISTRY.get(registry)
        if found is None:
            found = _build(registry)
            _BY_REGISTRY[registry] = found
        return found


def lock_contended(lock: str) -> None:
    """Count one contended acquisition of ``lock`` (a kind such as ``"chunk"``) on
    every registry carrying Seamless metrics: locks live in stores, which have no
    registry of their own, and contention is a fact about the whole process."""
    with _BY_REGISTRY_LOCK:
        targets = list(_BY_REGISTRY.values())
    for collectors in targets:
        collectors.lock_contention.child(lock).inc()


class Metrics:
    """The Seamless metrics on one ``prometheus_client`` registry.

    ``Metrics(registry=None)`` uses ``prometheus_client.REGISTRY`` by default.
    Instances on the same registry share their collectors. Label values may be
    strings, enums (labelled by value) or ``Interval`` objects (by name).

    ``node_labels=False`` records every ``node_id`` label as ``NODE_LABEL_OFF``
    (a universe of 500 nodes times phases times buckets is tens of thousands
    of series); ``None`` takes ``$SEAMLESS_METRICS_NODE_LABELS`` (default on).
    """

    __slots__ = ("_c", "_nodes", "registry")

    def __init__(
        self, registry: CollectorRegistry | None = None, *, node_labels: bool | None = None
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._c = _collectors_for(self.registry)
        self._nodes = settings.metrics_node_labels() if node_labels is None else node_labels

    @property
    def node_labels(self) -> bool:
        """Whether samples carry their ``node_id`` (see the class docstring)."""
        return self._nodes

    def _n(self, node_id: str) -> str:
        return node_id if self._nodes else NODE_LABEL_OFF

    # -- reads and SLA -------------------------------------------------------
    def observe_phase(self, node_id: str, phase: str, seconds: float) -> None:
        """Record the time one phase of a request took (``seamless_sla_deadline_seconds``)."""
        self._c.phase.child(self._n(node_id), phase).observe(seconds)

    def observe_read(
        self,
        strategy: Any,
        interval: Any,
        seconds: float,
        partial_ratio: float,
        *,
        strict: bool = False,
        violation: str | None = None,
        sources: Iterable[Any] = (),
    ) -> None:
        """Record a read that answered: its latency, the fraction of it that is
        missing, its outcome (``seamless_reads_total``; ``violation`` is the phase
        whose budget ran out, if any) and the ``sources`` that contributed bars."""
        c = self._c
        c.read_latency.child(strategy, interval).observe(seconds)
        c.partial_ratio.child(strategy).observe(partial_ratio)
        outcome = "sla_violation" if violation else ("partial" if partial_ratio > 0 else "complete")
        c.reads.child(strategy, "true" if strict else "false", interval, outcome).inc()
        for source in sources:
            c.read_sources.child(source, strategy, interval).inc()

    def sla_violation(self, phase: str) -> None:
        """Count a request whose ``phase`` budget ran out."""
        self._c.violations.child(phase).inc()

    def cache_hit(self, n: int = 1) -> None:
        """Count reads served from the cache."""
        self._c.cache_hits.inc(n)

    def cache_miss(self, n: int = 1) -> None:
        """Count reads the cache could not serve."""
        self._c.cache_misses.inc(n)

    def conformance_flags(self, node_id: str, flag_counts: Mapping[str, int]) -> None:
        """Add the per-flag row counts of one conformance report."""
        for flag, count in flag_counts.items():
            if count:
                self._c.flags.child(self._n(node_id), flag).inc(count)

    # -- backfill --------------------------------------------------------------
    def fetch(self, node_id: str, interval: Any) -> None:
        """Count one call to the fetcher."""
        self._c.fetches.child(self._n(node_id), interval).inc()

    def backfill_started(self, node_id: str, interval: Any) -> None:
        """A backfill job began (``backfill_jobs_in_progress`` and
        ``seamless_backfill_queue_length`` + 1)."""
        self._c.in_progress.child(self._n(node_id), interval).inc()
        self._c.queue_length.child(interval).inc()

    def backfill_finished(
        self, node_id: str, interval: Any, seconds: float | None = None, *, ok: bool = True
    ) -> None:
        """A backfill job ended, whatever its outcome (both gauges - 1); with
        ``seconds`` (submission to resolution) also ``seamless_backfill_duration_seconds``
        with ``outcome`` success or failure (``ok``: no window failed)."""
        self._c.in_progress.child(self._n(node_id), interval).dec()
        self._c.queue_length.child(interval).dec()
        if seconds is not None:
            outcome = "success" if ok else "failure"
            self._c.backfill_duration.child(interval, outcome).observe(seconds)

    def single_flight_collision(self, interval: Any) -> None:
        """Count a backfill request that joined an identical job already in flight."""
        self._c.collisions.child(interval).inc()

    @contextmanager
    def backfill_job(self, node_id: str, interval: Any) -> Iterator[None]:
        """``backfill_started`` on entry and ``backfill_finished`` on any exit."""
        self.backfill_started(node_id, interval)
        try:
            yield
        finally:
            self.backfill_finished(node_id, interval)

    def backfill_retry(self, node_id: str, interval: Any) -> None:
        """Count a retried fetch (``backfill_retry_total`` and ``seamless_job_retries_total``)."""
        self._c.retries.child(self._n(node_id), interval).inc()
        self._c.job_retries.child(interval).inc()

    def backfill_failure(self, node_id: str, interval: Any) -> None:
        """Count a backfill window that failed after every retry."""
        self._c.failures.child(self._n(node_id), interval).inc()
        self._c.windows.child(interval, "failure").inc()

    def backfill_wait(self, node_id: str, interval: Any, ms: float) -> None:
        """Record how long a read waited for a backfill, in milliseconds."""
        self._c.backfill_wait.child(self._n(node_id), interval).observe(ms)

    def lease_completion(self, node_id: str, interval: Any, lease_key: str, ratio: float) -> None:
        """Progress of one window filled under a coordinator lease
        (``backfill_completion_ratio{node_id,interval,lease_key}``); the newest
        ``MAX_LEASE_SERIES`` windows are kept."""
        c = self._c
        node_id = self._n(node_id)
        key = (node_id, _label(interval), lease_key)
        with c.lock:
            c.lease_keys.pop(key, None)
            c.lease_keys[key] = None
            while len(c.lease_keys) > MAX_LEASE_SERIES:
                oldest = next(iter(c.lease_keys))
                del c.lease_keys[oldest]
                c.lease_completion._children.pop(oldest, None)
                c.lease_completion.metric.remove(*oldest)
            c.lease_completion.child(node_id, key[1], lease_key).set(ratio)

    def backfill_progress(self, node_id: str, interval: Any, completion_ratio: float) -> None:
        """``backfill_completion_ratio{node_id,interval}`` of a fill of many
        windows: the share of them done so far."""
        self._c.completion.child(self._n(node_id), interval).set(completion_ratio)

    def backfill_committed(
        self, node_id: str, interval: Any, window_end: int, completion_ratio: float | None
    ) -> None:
        """A backfill window was committed: set the completion ratio (``None``:
        the caller sets it, with :meth:`backfill_progress`), and raise
        ``backfill_last_timestamp`` to ``window_end`` if it is the highest so far
        (filling old history must not make the series look stale)."""
        c = self._c
        c.windows.child(interval, "success").inc()
        node_id = self._n(node_id)
        if completion_ratio is not None:
            c.completion.child(node_id, interval).set(completion_ratio)
        key = (node_id, _label(interval))
        with c.lock:
            if window_end <= c.high_water.get(key, float("-inf")):
                return
            c.high_water[key] = window_end
            c.last_timestamp.child(node_id, interval).set(window_end)
