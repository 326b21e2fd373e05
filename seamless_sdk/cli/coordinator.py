"""``seamless coordinator quarantine list|retry|skip``: the operator's hand on
windows the coordinator gave up on (see ``seamless_sdk.coordination.commands``).

The coordinator's database is ``--dsn`` (a libpq URI). ``list`` prints every
quarantined window; ``retry KEY`` releases one so the next read or run that
misses it claims it at once; ``skip KEY`` stops trying it (reads report it
missing) until a ``retry``. ``KEY`` is the window as ``list`` prints it,
``node_id|interval|window_start|window_end``.
"""

from __future__ import annotations

import argparse

from rich.table import Table

from seamless_sdk.cli.context import CliContext
from seamless_sdk.cli.tables import iso
from seamless_sdk.coordination import commands
from seamless_sdk.coordination.base import JobRecord


def _table(jobs: list[JobRecord], title: str) -> Table:
    table = Table(title=title)
    table.add_column("key", no_wrap=True)  # whole, to paste into retry/skip
    for column in ("state", "attempts", "next attempt", "last error"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            str(job.key),
            job.state.value + (" (quarantined)" if job.quarantined else ""),
            str(job.attempts),
            iso(int(job.next_attempt_at)) if job.next_attempt_at is not None else "—",
            (job.last_error or "")[:80],
        )
    return table


def cmd_list(ctx: CliContext) -> int:
    """List every quarantined window (exit 0, also when there is none)."""
    jobs = commands.list_quarantined(ctx.args.dsn)
    if not jobs:
        ctx.console.print("no quarantined windows")
        return 0
    ctx.console.print(_table(jobs, f"{len(jobs)} quarantined window(s)"))
    return 0


def cmd_retry(ctx: CliContext) -> int:
    """Release a quarantined, skipped or backing-off window for the next claim."""
    ctx.console.print(_table([commands.retry(ctx.args.dsn, ctx.args.key)], "released"))
    return 0


def cmd_skip(ctx: CliContext) -> int:
    """Stop trying a window until it is retried; reads report it missing."""
    ctx.console.print(_table([commands.skip(ctx.args.dsn, ctx.args.key)], "skipped"))
    return 0


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``coordinator quarantine list|retry|skip`` to ``sub``."""
    coordinator = sub.add_parser(
        "coordinator", parents=parents, help="operate the PostgreSQL backfill coordinator"
    )
    groups = coordinator.add_subparsers(dest="coordinator_command", required=True, metavar="PART")
    quarantine = groups.add_parser(
        "quarantine", parents=parents, help="windows the coordinator stopped retrying"
    )
    actions = quarantine.add_subparsers(dest="quarantine_command", required=True, metavar="ACTION")
    for name, func, help_text in (
        ("list", cmd_list, "list quarantined windows"),
        ("retry", cmd_retry, "release a window for the next claim"),
        ("skip", cmd_skip, "stop trying a window until it is retried"),
    ):
        action = actions.add_parser(name, parents=parents, help=help_text, description=func.__doc__)
        action.add_argument(
            "--dsn", required=True, help="the coordinator's PostgreSQL database (a libpq URI)"
        )
        if name != "list":
            action.add_argument("key", help="the window: node_id|interval|window_start|window_end")
        action.set_defaults(func=func)
