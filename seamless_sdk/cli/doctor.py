"""``seamless doctor``: check the set-up and print a table with a verdict.

Checks the configuration (``--config``, ``$SEAMLESS_CONFIG`` or
``./seamless.yaml``), the store (``--store``; it opens, is writable, its
coverage matches its bars), the coordinator with ``--dsn``, the metrics
endpoint with ``--metrics-url``, Prometheus with ``--prometheus-url``, and the
Dagster instance when ``$DAGSTER_HOME`` is set (it opens, a daemon heartbeat
is fresh, queued and stuck runs). Exit 0 when no check failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from seamless_sdk import settings
from seamless_sdk.cli.context import CliContext
from seamless_sdk.cli.store import server_store
from seamless_sdk.config import load_config, optional_config_file
from seamless_sdk.doctor import Check, Status, run_checks, summarize
from seamless_sdk.errors import SeamlessError

_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.SKIP: "dim"}


def _config_check(ctx: CliContext) -> Check:
    explicit = getattr(ctx.args, "config", None)
    try:
        path = Path(explicit) if explicit else optional_config_file()
        if path is None:
            return Check("config", Status.WARN, "no seamless.yaml: the CLI's own defaults")
        config = load_config(path)
    except SeamlessError as exc:
        return Check("config", Status.FAIL, str(exc))
    return Check("config", Status.OK, f"{config.source or path}")


def _store(ctx: CliContext) -> tuple[Path, bool]:
    """The store path, and whether it was named (a missing named store fails)."""
    named = getattr(ctx.args, "store", None) is not None or settings.store_override() is not None
    return ctx.store_path(), named


def cmd_doctor(ctx: CliContext) -> int:
    """Run every check; exit 0 when none failed."""
    args = ctx.args
    config_check = _config_check(ctx)
    if config_check.status is Status.FAIL:
        # The loader's error is the config row; the store check goes on with the
        # CLI's default store instead of raising the same error again.
        ctx._config_read = True
    store, named = _store(ctx)
    coordinator = ctx.config.coordinator if ctx.config is not None else None
    report = run_checks(
        config_check=config_check,
        store=store,
        store_required=named,
        server_store=server_store(ctx),
        # --dsn names a coordinator to check; else seamless.yaml's, when it has one.
        dsn=args.dsn if args.dsn is not None or coordinator is None else coordinator.dsn,
        metrics_url=args.metrics_url,
        prometheus_url=args.prometheus_url,
        dagster_home=settings.dagster_home(),
    )
    table = Table(title="seamless doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in report.checks:
        style = _STYLE[check.status]
        table.add_row(check.name, f"[{style}]{check.status.value}[/]", escape(check.detail))
    ctx.console.print(table)
    verdict = summarize(report.checks)
    ctx.console.print(f"[{'green' if report.healthy else 'red'}]{escape(verdict)}[/]")
    return 0 if report.healthy else 1


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``doctor`` to ``sub``."""
    doctor = sub.add_parser(
        "doctor",
        parents=parents,
        help="check the set-up (exit 1 if unhealthy)",
        description=__doc__,
    )
    doctor.add_argument("--dsn", default=None, help="the PostgreSQL coordinator to check")
    doctor.add_argument("--metrics-url", default=None, help="an exporter to scrape, .../metrics")
    doctor.add_argument("--prometheus-url", default=None, help="a Prometheus server's root URL")
    doctor.set_defaults(func=cmd_doctor)
