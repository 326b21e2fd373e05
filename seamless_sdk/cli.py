"""The ``seamless`` command line.

    seamless demo                         read a month of synthetic 1m bars for a few nodes
    seamless read NODE INTERVAL START END read a range and print the metadata
    seamless coverage [NODE INTERVAL]     print stored coverage
    seamless backfill NODE... --interval 1m --start ... --end ...
                                          fill a range through Dagster, without the UI
    seamless schemas check [--baseline DIR] check the schema registry's compatibility

The store is ``var/seamless.sqlite`` under the current directory unless
``--store`` or ``SEAMLESS_STORE`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seamless_sdk.errors import SeamlessError
from seamless_sdk.fetchers import SyntheticFetcher
from seamless_sdk.intervals import DAY, parse_interval
from seamless_sdk.provider import SeamlessDataProvider
from seamless_sdk.ranges import RangeSet
from seamless_sdk.result import HistoryMeta
from seamless_sdk.stores.local import LocalStore
from seamless_sdk.strategy import Strategy

DEMO_NODES = ("demo:BTCUSDT", "demo:ETHUSDT", "demo:SOLUSDT")


def default_store_path() -> Path:
    return Path(os.environ.get("SEAMLESS_STORE", "var/seamless.sqlite"))


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _ranges(rs: RangeSet, limit: int = 3) -> str:
    parts = [f"{_iso(s)} → {_iso(e)}" for s, e in list(rs)[:limit]]
    if len(rs) > limit:
        parts.append(f"… +{len(rs) - limit} more")
    return "\n".join(parts) or "—"


def coverage_table(store: LocalStore, series: Sequence[tuple[str, str]]) -> Table:
    table = Table(title="Stored coverage")
    for column in ("node", "interval", "ranges", "bars covered"):
        table.add_column(column)
    for node, interval in series:
        iv = parse_interval(interval)
        cov = store.coverage(node, iv)
        table.add_row(node, iv.name, _ranges(cov), f"{cov.total() // iv.seconds:,}")
    return table


def meta_table(rows: Sequence[tuple[str, int, HistoryMeta]], interval_s: int) -> Table:
    table = Table(title="Read metadata")
    for column in ("node", "rows", "bars per source", "missing", "ms", "SLA", "gaps"):
        table.add_column(column)
    for node, n, meta in rows:
        sources = ", ".join(
            f"{k} {v.total() // interval_s:,}" for k, v in meta.source_contributions.items()
        )
        table.add_row(
            node,
            f"{n:,}",
            sources,
            _ranges(meta.missing),
            f"{meta.sla_report.total_ms:.2f}",
            str(meta.sla_report.violation or "ok"),
            str(meta.quality_summary["gaps"]),
        )
    return table


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    """Backfill a month of 1m bars for the demo nodes with a progress bar, then read it."""
    store_path = Path(args.store)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    iv = parse_interval(args.interval)
    end = int(time.time()) // DAY * DAY
    start = end - args.days * DAY
    nodes = args.nodes or list(DEMO_NODES)
    provider = SeamlessDataProvider(
        store=LocalStore(store_path),
        fetcher=SyntheticFetcher(seed=42),
        strategy=Strategy.AUTO_BACKFILL,
    )
    console.print(
        f"[bold]Seamless demo[/]: {len(nodes)} nodes × {args.days} days of {iv.name} "
        f"bars, store {store_path}"
    )
    with provider:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
        )
        t0 = time.perf_counter()
        with Progress(*columns, console=console) as progress:
            for node in nodes:
                task = progress.add_task(node, total=args.days)
                for day in range(start, end, DAY):
                    provider.ensure_available(node, iv.name, day, day + DAY)
                    progress.advance(task)
        fill_s = time.perf_counter() - t0
        rows = []
        for node in nodes:
            result = provider.read(node, iv.name, start, end, strategy=Strategy.FAIL_FAST)
            rows.append((node, len(result.df), result.meta))
        bars = sum(n for _, n, _ in rows)
        console.print(f"backfilled or found {bars:,} bars in {fill_s:.2f} s")
        console.print(coverage_table(provider.store, [(n, iv.name) for n in nodes]))  # type: ignore[arg-type]
        console.print(meta_table(rows, iv.seconds))
        node = nodes[0]
        for attempt in ("again", "once more"):
            timed = provider.read(node, iv.name, start, end, strategy=Strategy.FAIL_FAST)
            console.print(
                f"reading {node} {attempt}: {len(timed.df):,} bars from "
                f"{', '.join(timed.meta.source_contributions)} in "
                f"{timed.meta.sla_report.total_ms:.2f} ms"
            )
    return 0


def cmd_read(args: argparse.Namespace, console: Console) -> int:
    with SeamlessDataProvider(
        store=LocalStore(args.store), fetcher=SyntheticFetcher(seed=42)
    ) as provider:
        result = provider.read(
            args.node, args.interval, args.start, args.end, strategy=Strategy.parse(args.strategy)
        )
        console.print(result.df)
        console.print_json(data=result.meta.to_dict())
    return 0


def cmd_coverage(args: argparse.Namespace, console: Console) -> int:
    store = LocalStore(args.store)
    try:
        series = [(args.node, args.interval)] if args.node else store.series()
        console.print(coverage_table(store, series))
    finally:
        store.close()
    return 0


def cmd_backfill(args: argparse.Namespace, console: Console) -> int:
    # Imported here: the SDK must not import Dagster unless this command runs.
    from seamless_assets.cli import run_backfill_cli

    return run_backfill_cli(args, console)


def cmd_schemas(args: argparse.Namespace, console: Console) -> int:
    """Check the schema registry's compatibility rules (exit 1 when broken)."""
    from seamless_sdk.conformance.spec.registry import schemas_check

    return schemas_check(args.dir, baseline=args.baseline, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seamless", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--store", default=str(default_store_path()), help="LocalStore file (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="backfill and read a month of synthetic bars")
    demo.add_argument("--days", type=int, default=30)
    demo.add_argument("--interval", default="1m")
    demo.add_argument("--nodes", nargs="*")
    demo.set_defaults(func=cmd_demo)
    read = sub.add_parser("read", help="read one range and print data and metadata")
    read.add_argument("node")
    read.add_argument("interval")
    read.add_argument("start")
    read.add_argument("end")
    read.add_argument("--strategy", default="seamless")
    read.set_defaults(func=cmd_read)
    cov = sub.add_parser("coverage", help="print stored coverage")
    cov.add_argument("node", nargs="?")
    cov.add_argument("interval", nargs="?", default="1m")
    cov.set_defaults(func=cmd_coverage)
    backfill = sub.add_parser("backfill", help="fill a range through Dagster (no UI)")
    backfill.add_argument("nodes", nargs="+")
    backfill.add_argument("--interval", default="1m")
    backfill.add_argument("--start", required=True)
    backfill.add_argument("--end", required=True)
    backfill.set_defaults(func=cmd_backfill)
    schemas = sub.add_parser("schemas", help="schema registry tools")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    check = schemas_sub.add_parser("check", help="check schema compatibility rules")
    check.add_argument("--dir", help="schema directory (default: the shipped registry)")
    check.add_argument("--baseline", help="the last release's schema directory")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return int(args.func(args, console))
    except SeamlessError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
