"""Backfill metrics of Dagster runs, left where a scrape finds them after the run.

A run's process ends with the run, so its in-memory registry would vanish
before the next scrape. With ``metrics.multiprocess_dir`` in ``seamless.yaml``
every run records its fills on a private registry (the SDK's
:class:`~seamless_sdk.metrics.Metrics`, the same families a provider has) and
writes it every ``metrics.flush_s`` seconds, and once more when the run ends,
into that directory in prometheus_client's multiprocess file format. One
long-lived ``seamless metrics serve --multiprocess-dir DIR`` serves the
directory; docs/operations.md says why this and not a Pushgateway.

What lands where, so numbers add up across any number of runs without the
directory growing per run:

* counters and histograms: added as deltas since the last flush to one shared
  file per kind (``counter_shared.db``, ``histogram_shared.db``), under an
  exclusive ``flock``: a counter never goes down, whatever runs overlap;
* ``backfill_last_timestamp``: the maximum (``gauge_max_shared.db``);
* ``backfill_completion_ratio`` and other gauges: the most recently written
  value per series (``gauge_mostrecent_shared.db``);
* ``backfill_jobs_in_progress`` and ``seamless_backfill_queue_length``: the
  run's own file (``gauge_livesum_<run>.db``), summed with the other live runs'
  and deleted when the run ends. A run killed with SIGKILL leaves its file
  behind; the next run's flush deletes it (the file names the writer's pid,
  and the directory is per host), so its jobs stop looking in progress.

Why not prometheus_client's own multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``
set for the run workers): it switches every metric of the process at import
time, needs the variable in the run launcher's environment rather than in
``seamless.yaml``, writes one file set per process (a directory that grows
with every run) and must be emptied whenever the exporter restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import mark_process_dead

from seamless_sdk import metrics as names
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.metrics import Metrics
from seamless_sdk.pids import pid_alive

__all__ = ["LOCK_FILE", "RunMetrics", "prune_dead_runs", "record_partition"]

log = logging.getLogger("seamless.run_metrics")

T = TypeVar("T")

LOCK_FILE = "seamless-run-metrics.lock"
"""Serialises writers of the shared files (not a ``.db``: the exporter ignores it)."""
SHARED = "shared"
"""The process part of the shared files' names (``counter_shared.db``)."""

_LIVE_GAUGES = frozenset({names.BACKFILL_JOBS_IN_PROGRESS, names.BACKFILL_QUEUE_LENGTH})
_MAX_GAUGES = frozenset({names.BACKFILL_LAST_TIMESTAMP})


class RunMetrics:
    """The metrics of one run (or one step process of it), flushed to ``directory``.

    ``metrics`` is what the fills record on; ``flush()`` writes it out,
    ``close()`` stops the periodic flush, writes a last time and removes the
    run's live file. ``ident`` names the run's live file: letters, digits and
    dashes (prometheus_client splits file names at underscores).
    """

    def __init__(
        self,
        directory: Path,
        ident: str,
        *,
        flush_s: float = 5.0,
        node_labels: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not ident or not all(ch.isalnum() or ch == "-" for ch in ident):
            raise InvalidRequestError("ident", f"{ident!r}: use letters, digits and dashes")
        if not flush_s > 0:
            raise InvalidRequestError("metrics.flush_s", f"{flush_s!r} is not > 0")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.ident = ident
        self.flush_s = flush_s
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, node_labels=node_labels)
        self._clock = clock
        self._added: dict[tuple[str, str], float] = {}
        self._gauges: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop, name=f"seamless-run-metrics-{ident[:8]}", daemon=True
        )
        self._thread.start()

    @classmethod
    def for_run(cls, directory: str, run: object | None, flush_s: float = 5.0) -> RunMetrics | None:
        """The metrics of a Dagster ``run`` (a ``DagsterRun``) writing to ``directory``;
        ``None`` without a directory or outside a run (a sensor tick). The live
        file is named by run id and process, since each step process of a
        multiprocess run records on its own."""
        run_id = getattr(run, "run_id", None)
        if not directory or not run_id:
            return None
        return cls(Path(directory), f"{run_id}-{os.getpid()}", flush_s=flush_s)

    @property
    def live_file(self) -> Path:
        """This run's file of live gauges (jobs in progress, queue length)."""
        return self.directory / f"gauge_livesum_{self.ident}.db"

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # a full disk must not fail the run; the next flush retries
                log.exception("writing run metrics to %s failed", self.directory)

    def flush(self) -> None:
        """Write what was recorded since the last flush (see the module docstring)."""
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        shared: dict[str, dict[str, float]] = defaultdict(dict)  # file prefix -> key -> delta
        live: dict[str, float] = {}
        gauges: dict[str, dict[str, float]] = defaultdict(dict)  # mode -> key -> value
        for family in self.registry.collect():
            if family.type == "counter":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        key = mmap_key(family.name, s.name, list(s.labels), list(s.labels.values()),
                                       family.documentation)  # fmt: skip
                        self._delta(shared["counter"], key, s.value)
            elif family.type == "histogram":
                for key, value in _histogram_values(family):
                    self._delta(shared["histogram"], key, value)
            elif family.type == "gauge":
                for s in family.samples:
                    key = mmap_key(family.name, s.name, list(s.labels), list(s.labels.values()),
                                   family.documentation)  # fmt: skip
                    if family.name in _LIVE_GAUGES:
                        live[key] = s.value
                    elif self._gauges.get(("g", key)) != s.value:
                        mode = "max" if family.name in _MAX_GAUGES else "mostrecent"
                        gauges[mode][key] = s.value
        if any(shared.values()) or any(gauges.values()):
            self._write_shared(shared, gauges)
        if live:
            # Only this process writes its live file: no lock needed.
            with _opened(self.live_file) as file:
                for key, value in live.items():
                    file.write_value(key, value, 0.0)

    def _delta(self, out: dict[str, float], key: str, value: float) -> None:
        delta = value - self._added.get(("c", key), 0.0)
        if delta:
            out[key] = delta

    def _write_shared(
        self, shared: dict[str, dict[str, float]], gauges: dict[str, dict[str, float]]
    ) -> None:
        now = self._clock()
        with _exclusive(self.directory / LOCK_FILE):
            prune_dead_runs(self.directory)
            for prefix, deltas in shared.items():
                if not deltas:
                    continue
                with _opened(self.directory / f"{prefix}_{SHARED}.db") as file:
                    for key, delta in deltas.items():
                        value, _ = file.read_value(key)
                        file.write_value(key, value + delta, 0.0)
                        self._added[("c", key)] = self._added.get(("c", key), 0.0) + delta
            for mode, values in gauges.items():
                if not values:
                    continue
                with _opened(self.directory / f"gauge_{mode}_{SHARED}.db") as file:
                    for key, value in values.items():
                        merged = max(value, file.read_value(key)[0]) if mode == "max" else value
                        file.write_value(key, merged, now)
                        self._gauges[("g", key)] = value

    @contextlib.contextmanager
    def partition(self, node_id: str, interval: str) -> Iterator[Callable[[bool], None]]:
        """Around one partition's fill: a job in progress while it runs, then its
        duration with outcome success or failure. The block calls the yielded
        function with ``ok=False`` when the fill failed (the default is success)."""
        outcome = {"ok": True}

        def set_ok(ok: bool) -> None:
            outcome["ok"] = ok

        started = time.perf_counter()
        self.metrics.backfill_started(node_id, interval)
        try:
            yield set_ok
        except BaseException:
            outcome["ok"] = False
            raise
        finally:
            self.metrics.backfill_finished(
                node_id, interval, time.perf_counter() - started, ok=outcome["ok"]
            )

    def close(self) -> None:
        """Stop the periodic flush, write a last time and remove the live file."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._thread.join(self.flush_s + 5.0)
        with self._lock:
            self._flush()
        mark_process_dead(self.ident, str(self.directory))


def prune_dead_runs(directory: Path) -> list[Path]:
    """Delete the live files of runs whose process is gone (killed with SIGKILL,
    or a host crash), so their jobs stop looking in progress; the files
    removed. A live file is named ``gauge_livesum_<run id>-<pid>.db`` and the
    directory is per host, so the pid says whether its writer still runs."""
    removed = []
    for path in directory.glob("gauge_livesum_*.db"):
        pid_text = path.stem.rsplit("-", 1)[-1]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def record_partition(
    run_metrics: RunMetrics | None,
    node_id: str,
    interval: str,
    fill: Callable[[Metrics | None], T],
    ok: Callable[[T], bool],
) -> T:
    """``fill(metrics)`` for one partition, recorded on ``run_metrics`` when there is
    one (``fill(None)`` otherwise); ``ok(outcome)`` says whether it succeeded."""
    if run_metrics is None:
        return fill(None)
    with run_metrics.partition(node_id, interval) as set_ok:
        outcome = fill(run_metrics.metrics)
        set_ok(ok(outcome))
        return outcome


def _histogram_values(family: object) -> Iterator[tuple[str, float]]:
    """A histogram family as multiprocess files hold it: each bucket's own count
    (not cumulative) and ``_sum``; the exporter rebuilds ``_count`` and the
    cumulative buckets when it reads them."""
    name: str = family.name  # type: ignore[attr-defined]
    doc: str = family.documentation  # type: ignore[attr-defined]
    buckets: dict[tuple[tuple[str, str], ...], list[tuple[float, str, float]]] = defaultdict(list)
    for s in family.samples:  # type: ignore[attr-defined]
        if s.name == f"{name}_sum":
            yield mmap_key(name, s.name, list(s.labels), list(s.labels.values()), doc), s.value
        elif s.name == f"{name}_bucket":
            rest = tuple((k, v) for k, v in s.labels.items() if k != "le")
            buckets[rest].append((float(s.labels["le"]), s.labels["le"], s.value))
    for rest, cumulative in buckets.items():
        previous = 0.0
        for _, le, value in sorted(cumulative):
            labels = {**dict(rest), "le": le}
            yield (
                mmap_key(name, f"{name}_bucket", list(labels), list(labels.values()), doc),
                (value - previous),
            )
            previous = value


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[MmapedDict]:
    # Opened per flush: the positions an open MmapedDict caches would miss keys
    # another process appended since.
    file = MmapedDict(str(path))
    try:
        yield file
    finally:
        file.close()


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
