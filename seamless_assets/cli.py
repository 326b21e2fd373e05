"""``seamless backfill``: fill a date range through Dagster without the UI.

Registered with the SDK's CLI through the ``seamless.cli`` entry point
(``register``), so the SDK never imports the code location. The terminal
shows a progress bar, one line per run and a summary; Dagster's own event
lines and its preview/beta warnings go to a log file (``--log-file``,
default ``seamless-backfill.log`` next to the store) unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any, TextIO

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from seamless_assets.backfill import BackfillProgress, run_backfill
from seamless_assets.checks.evaluate import iso
from seamless_assets.partitions import window_partitions
from seamless_sdk.backfill.dagster import requests_path_for
from seamless_sdk.cli.context import CliContext, checked_dagster_home, time_arg
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval
from seamless_sdk.request import to_epoch_seconds

LOG_NAME = "seamless-backfill.log"


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``backfill`` to the ``seamless`` CLI (the ``seamless.cli`` entry point)."""
    parser = sub.add_parser(
        "backfill",
        parents=parents,
        help="fill a range through Dagster, without the UI (needs seamless[dagster])",
        description=run_backfill_cli.__doc__,
    )
    parser.add_argument("nodes", nargs="+", metavar="NODE", help="node ids, e.g. demo:BTCUSDT")
    parser.add_argument(
        "--interval",
        default="1m",
        help="bar interval; it needs an asset in seamless.yaml (default: %(default)s)",
    )
    parser.add_argument(
        "--start",
        required=True,
        type=time_arg,
        help="start of the range: ISO-8601 (naive = UTC) or epoch seconds",
    )
    parser.add_argument(
        "--end", required=True, type=time_arg, help="end of the range, exclusive (same forms)"
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="register nodes that are not registered yet (otherwise they are an error)",
    )
    parser.add_argument(
        "--log-file",
        type=Path,
        help=f"where Dagster's events and warnings go (default: {LOG_NAME} next to the store)",
    )
    parser.set_defaults(func=run_backfill_cli)


def run_backfill_cli(ctx: CliContext) -> int:
    """Materialize every partition window of the nodes that the range touches, with a
    progress bar; exit 0 when every run succeeded, 1 otherwise."""
    args, console = ctx.args, ctx.console
    config = _config(ctx)
    iv = config.interval(args.interval)
    start = to_epoch_seconds(args.start, "start")
    end = to_epoch_seconds(args.end, "end")
    check_in_partitions(config, iv, start, end)
    # The run reads both, but only once the log file and the store exist (and a
    # bad modes file only failed the run, quietly, into the log).
    home = checked_dagster_home()
    ctx.check_conformance_config()
    log_file = args.log_file or config.store.parent / LOG_NAME
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TimeElapsedColumn(),
    )
    console.print(f"store {config.store_config.describe()}, {ctx.describe_sources()}")
    if home is None:
        console.print(
            "DAGSTER_HOME is unset: the runs go to a temporary Dagster instance, not the "
            "one a webserver shows; set it to that instance's directory to see them there"
        )
    progress = Progress(*columns, console=console)
    with _dagster_output(log_file, ctx.verbose), contextlib.ExitStack() as shown:
        # The bar appears once the nodes and the instance are checked, so a
        # refused command prints no empty bar (not even its blank line) first.
        tasks: list[TaskID] = []

        def show_bar(total: int) -> None:
            shown.enter_context(progress)
            tasks.append(progress.add_task(f"bars_{iv.name}", total=total))

        def advance(p: BackfillProgress) -> None:
            progress.update(tasks[0], total=p.total, completed=p.done)
            status = "ok" if p.success else "[red]failed[/]"
            progress.console.print(f"run {p.run_id[:8]} {status}: {', '.join(p.partition_keys)}")

        summary = run_backfill(
            args.nodes,
            iv,
            start,
            end,
            progress=advance,
            on_start=show_bar,
            config=config,
            register=args.register,
        )
    console.print(
        f"{len(summary.partition_keys)} partitions in {len(summary.run_ids)} runs, "
        f"{len(summary.failed_runs)} failed"
    )
    if not ctx.verbose:
        console.print(f"Dagster's log: {log_file}", highlight=False)
    return 0 if not summary.failed_runs else 1


def check_in_partitions(config: SeamlessConfig, iv: Interval, start: int, end: int) -> None:
    """Raise ``InvalidRequestError`` unless ``[start, end)`` lies inside the asset's
    partitions: from the window of ``partition_start`` to the end of the window
    still open now (the same definition Dagster uses)."""
    if start >= end:
        raise InvalidRequestError("end", f"{iso(end)} is not after start {iso(start)}")
    windows = window_partitions(iv, config.partition_start)
    first = windows.get_first_partition_window()
    last = windows.get_last_partition_window()
    if first is None or last is None:
        raise InvalidRequestError("start", f"bars_{iv.name} has no partitions yet")
    lo, hi = int(first.start.timestamp()), int(last.end.timestamp())
    span = f"configured partitions of bars_{iv.name} are {iso(lo)} → {iso(hi)}"
    if start < lo:
        raise InvalidRequestError(
            "start", f"{iso(start)} is before the first partition ({span}; see partition_start)"
        )
    if end > hi:
        raise InvalidRequestError("end", f"{iso(end)} is after the last partition ({span})")


def _config(ctx: CliContext) -> SeamlessConfig:
    """The code location's config, with the CLI's ``--store`` when one was given
    (``$SEAMLESS_STORE`` is already applied by the config loader)."""
    config = ctx.require_config()
    if getattr(ctx.args, "store", None) is None:
        return config
    store = ctx.store_path().resolve()
    # --store is a LocalStore file, whatever kind of store the config names.
    return dataclasses.replace(
        config, store=store, requests=requests_path_for(store), server_store=None
    )


@contextmanager
def _dagster_output(log_file: Path, verbose: bool) -> Iterator[None]:
    """Dagster's console logger and warnings go to ``log_file`` (the terminal with
    ``verbose``). Its logger writes to whatever ``sys.stderr`` is when it logs,
    so redirecting stderr catches every event line."""
    if verbose:
        yield
        return
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = log_file.open("a", encoding="utf-8")
    except OSError as exc:  # a directory, a file where its folder should be, no permission
        raise InvalidRequestError(
            "log_file", f"{log_file} cannot be written: {exc.strerror}"
        ) from None
    with out, redirect_stderr(out), _warnings_to(out):
        yield


@contextmanager
def _warnings_to(out: TextIO) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("default")

        def show(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
            out.write(warnings.formatwarning(message, category, filename, lineno))

        warnings.showwarning = show
        yield
