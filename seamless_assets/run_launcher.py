"""Run workers forked from a warm process: Dagster's launch without its imports.

Dagster's ``DefaultRunLauncher`` asks the code server for each run, and the
code server *spawns* a fresh interpreter per run: it imports Dagster, pandas,
pyarrow, this package and Great Expectations again (about 8 s of CPU on the
2-core machines here, 4 s of it Great Expectations) before the first bar is
fetched. A UI backfill of 10 nodes is 10 runs (Dagster splits node × window
ranges per node), so that start-up cost more than the fills themselves.

``WarmRunLauncher`` (``dagster.yaml``: ``run_launcher: {module:
seamless_assets.run_launcher, class: WarmRunLauncher}``) keeps one
``multiprocessing`` forkserver per launching process (the daemon) with those
libraries imported once, and forks each run's worker from it. The worker
then does exactly what ``dagster api execute_run`` does: it loads the run's
code location from the run's origin (so ``seamless.yaml`` is read per run,
never cached in the warm process), executes the run and reports every event
to the instance. A run whose origin names another Python than the
launcher's goes through ``DefaultRunLauncher`` as before.

The worker's pid and host are run tags (``seamless/run_worker_pid``,
``seamless/run_worker_host``): ``terminate`` (the UI's *Terminate*) sends the
worker SIGINT, which Dagster turns into a canceled run, and
``check_run_worker_health`` lets Dagster's run monitoring mark a run whose
worker died (``kill -9``) as failed instead of leaving it started forever.
Both work from any process on the worker's host.

In the daemon the forkserver starts with the daemon (its import of the
preload overlaps the daemon's start-up) and the daemon logs
:data:`READY_MESSAGE` once it has forked a first, empty worker: from then on
a run starts without waiting for an import. Any other launching process
starts it with its first run. It exits with that process; workers it forked
finish their runs on their own.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from multiprocessing import forkserver, spawn
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Self

from dagster import Field, _check
from dagster._core.launcher import DefaultRunLauncher, LaunchRunContext
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClassData
from dagster_shared.serdes import deserialize_value, serialize_value

from seamless_sdk.pids import identity_alive, pid_alive
from seamless_sdk.settings import forkserver_main_path

PID_TAG = "seamless/run_worker_pid"
HOST_TAG = "seamless/run_worker_host"
CLI_PROCESS_TAG = "seamless/cli_process"
"""A ``seamless backfill`` run's process (``pids.process_identity``): the CLI
runs it in process, so that process is its worker, with ``HOST_TAG``."""

DEFAULT_PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow",
    "dagster",
    "dagster._cli.api",
    # What a worker's DagsterInstance.from_ref imports: the storage classes
    # (alembic and its dialects, about 0.7 s), this package's storage.
    "dagster._core.storage.base_storage",
    "dagster._core.storage.event_log",
    "seamless_assets.instance_storage",
    "seamless_sdk",
    "seamless_assets.location",
    "seamless_assets.canary_job",
    "seamless_assets.reprocess_job",
    "seamless_assets.checks.expectations",
    # Optional extras: a module that is not installed is skipped by the forkserver.
    "pandera",
    "great_expectations",
    "upath",
    "dagster_postgres",  # a production instance's storage
)
"""What the warm process imports before it forks workers: the libraries every
run needs, never the code location module itself (it reads ``seamless.yaml``
and must be loaded per run)."""

_FORKSERVER_MARK = b"multiprocessing.forkserver"

READY_MESSAGE = "WarmRunLauncher: the run workers' forkserver is ready"
"""The daemon's log line (followed by the seconds its preload took) once a run
no longer waits for the preload: what a benchmark of a warm daemon waits for."""

_log = logging.getLogger("dagster.daemon.WarmRunLauncher")


class WarmRunLauncher(DefaultRunLauncher):
    """Launches each run as a worker forked from a preloaded forkserver.

    Config (all optional): ``preload``, the modules the forkserver imports
    (default :data:`DEFAULT_PRELOAD`).

    >>> # dagster.yaml
    >>> # run_launcher:
    >>> #   module: seamless_assets.run_launcher
    >>> #   class: WarmRunLauncher
    """

    def __init__(
        self, inst_data: ConfigurableClassData | None = None, preload: Sequence[str] | None = None
    ) -> None:
        super().__init__(inst_data=inst_data)
        self._preload = list(DEFAULT_PRELOAD if preload is None else preload)
        self._ctx: ForkServerContext | None = None
        self._workers: dict[str, BaseProcess] = {}
        self._lock = threading.Lock()

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "preload": Field(
                [str],
                is_required=False,
                description="Modules the warm process imports once, before forking run workers.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(inst_data=inst_data, preload=config_value.get("preload"))

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = run.job_code_origin
        if origin is None or not _same_python(origin.executable_path):
            super().launch_run(context)
            return
        instance_ref = serialize_value(self._instance.get_ref())
        with self._lock:
            self._reap()
            worker = self._context().Process(
                target=run_worker,
                args=(run.run_id, instance_ref),
                name=f"dagster-run-{run.run_id}",
            )
            worker.start()
            self._workers[run.run_id] = worker
        self._instance.add_run_tags(
            run.run_id, {PID_TAG: str(worker.pid), HOST_TAG: socket.gethostname()}
        )
        self._run_ids.add(run.run_id)

    def terminate(self, run_id: str) -> bool:
        _check.str_param(run_id, "run_id")
        if not self.has_instance:
            return False
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return False
        if PID_TAG not in run.tags:
            return super().terminate(run_id)  # launched by DefaultRunLauncher
        self._instance.report_run_canceling(run)
        pid, why = _local_worker(run)
        if pid is None:
            self._instance.report_engine_event(
                f"Could not send the run worker a termination signal: {why}.",
                dagster_run=run,
                cls=self.__class__,
            )
            return False
        os.kill(pid, signal.SIGINT)  # Dagster's run worker turns it into a canceled run
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # Dagster's monitoring fails a run on any status but RUNNING and SUCCESS,
        # so a worker this process cannot see (launched by DefaultRunLauncher, or
        # on another host) is reported running: only the run timeouts apply to it.
        if CLI_PROCESS_TAG in run.tags:
            return self._check_cli_run(run)
        if PID_TAG not in run.tags:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not checked: a code server's run")
        pid, why = _local_worker(run)
        if pid is not None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        if run.tags.get(HOST_TAG) != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"not checked: {why}")
        return self._worker_gone(run, why, f"run worker {why}")

    def _worker_gone(self, run: DagsterRun, ended: str, died: str) -> CheckRunHealthResult:
        """The run's worker is gone: SUCCESS (``ended``) if it recorded the run's
        end before exiting, which a re-read shows, else FAILED (``died``)."""
        latest = self._instance.get_run_by_id(run.run_id)
        if latest is not None and latest.is_finished:
            return CheckRunHealthResult(WorkerStatus.SUCCESS, ended)
        return CheckRunHealthResult(WorkerStatus.FAILED, died)

    def _check_cli_run(self, run: DagsterRun) -> CheckRunHealthResult:
        """A ``seamless backfill`` run lives as long as the CLI process that runs it:
        one killed (``kill -9``) left it Started for good, and the SDK's requests
        for its windows joined a run that would never finish."""
        identity = run.tags[CLI_PROCESS_TAG]
        host = run.tags.get(HOST_TAG)
        if host != socket.gethostname():
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"not checked: on host {host!r}")
        if identity_alive(identity):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=identity)
        pid = identity.partition(":")[0]
        return self._worker_gone(
            run,
            "its CLI process has ended",
            f"the `seamless backfill` process {pid} that ran it has exited",
        )

    def register_instance(self, instance: Any) -> None:
        super().register_instance(instance)
        if in_daemon():
            # The daemon launches runs: import the preload while it starts, so
            # even its first run does not wait for it.
            threading.Thread(
                target=self._warm, name="seamless-warm-run-launcher", daemon=True
            ).start()

    def _warm(self) -> None:
        started = time.monotonic()
        with self._lock:
            ctx = self._context()
        # The forkserver imports the preload before it answers: the first fork
        # returns once that is done, so the log line below means "warm".
        probe = ctx.Process(target=_empty_worker, name="seamless-warm-probe")
        probe.start()
        probe.join()
        probe.close()
        _log.info("%s (preload took %.1f s)", READY_MESSAGE, time.monotonic() - started)

    def dispose(self) -> None:
        with self._lock:
            self._reap()
        super().dispose()

    def _context(self) -> ForkServerContext:
        if self._ctx is None:
            ctx = multiprocessing.get_context("forkserver")
            # _forkserver_main first: without it every forked worker re-runs
            # the launching process's main script (see that module for why
            # preloading "__main__" does not prevent it).
            ctx.set_forkserver_preload(["seamless_assets._forkserver_main", *self._preload])
            main_path = spawn.get_preparation_data("main").get("init_main_from_path")
            with forkserver_main_path(main_path):
                forkserver.ensure_running()  # the server inherits the environment now
            self._ctx = ctx
        return self._ctx

    def _reap(self) -> None:
        # Release the handles (a pipe each) of workers that have ended.
        for run_id, worker in list(self._workers.items()):
            if worker.exitcode is not None:
                worker.close()
                del self._workers[run_id]


def _empty_worker() -> None:
    """The warm-up probe's body: a fork that does nothing."""


def run_worker(run_id: str, instance_ref: str) -> None:
    """A run worker's body (in a forked process): ``dagster api execute_run``'s.

    It loads the run's code location from the run's origin, executes the run
    and records every event in the instance; SIGINT cancels the run.
    """
    from dagster import DagsterInstance
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance.ref import InstanceRef
    from dagster._utils.interrupts import capture_interrupts

    with (
        capture_interrupts(),
        DagsterInstance.from_ref(deserialize_value(instance_ref, InstanceRef)) as instance,
    ):
        _execute_run_command_body(
            run_id, instance, write_stream_fn=lambda _event: None, set_exit_code_on_failure=False
        )


def in_daemon() -> bool:
    """Whether this process is ``dagster-daemon`` (``dagster dev`` starts it as
    ``python -m dagster._daemon``): the one process that launches runs."""
    if multiprocessing.parent_process() is not None:
        return False  # a run worker: it carries the daemon's sys.argv
    main = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return main.name == "dagster-daemon" or main.parent.name == "_daemon"


def _same_python(executable: str) -> bool:
    """Whether a run's origin names this interpreter (the warm process's)."""
    try:
        return os.path.samefile(executable, sys.executable)
    except OSError:
        return False


def _local_worker(run: DagsterRun) -> tuple[int | None, str]:
    """The run's worker pid when it is alive on this host, else None and why not."""
    host, pid_text = run.tags.get(HOST_TAG), run.tags.get(PID_TAG, "")
    if host != socket.gethostname():
        return None, f"it runs on host {host!r}, not {socket.gethostname()!r}"
    try:
        pid = int(pid_text)
    except ValueError:
        return None, f"its pid tag {pid_text!r} is not a number"
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        if _FORKSERVER_MARK not in cmdline.read_bytes():
            return None, f"process {pid} has exited (the pid now belongs to another program)"
    except FileNotFoundError:
        return None, f"process {pid} has exited"
    except OSError:
        pass  # no /proc (not Linux): trust the pid as Dagster's own launchers do
    if not pid_alive(pid):
        return None, f"process {pid} has exited"
    return pid, ""
