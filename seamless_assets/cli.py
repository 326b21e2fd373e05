"""``seamless backfill``: fill a date range through Dagster without the UI."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seamless_assets.backfill import BackfillProgress, run_backfill


def run_backfill_cli(args: argparse.Namespace, console: Console) -> int:
    """Materialize every partition window of ``args.nodes`` touched by
    ``[args.start, args.end)`` with a progress bar; 0 when every run succeeded."""
    # The code location reads its store from SEAMLESS_STORE: make it the CLI's.
    os.environ["SEAMLESS_STORE"] = str(Path(args.store).resolve())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"bars_{args.interval}", total=None)

        def advance(p: BackfillProgress) -> None:
            progress.update(task, total=p.total, completed=p.done)
            status = "ok" if p.success else "[red]failed[/]"
            progress.console.print(f"run {p.run_id[:8]} {status}: {', '.join(p.partition_keys)}")

        summary = run_backfill(args.nodes, args.interval, args.start, args.end, progress=advance)
    console.print(
        f"{len(summary.partition_keys)} partitions in {len(summary.run_ids)} runs, "
        f"{len(summary.failed_runs)} failed"
    )
    return 0 if not summary.failed_runs else 1
