"""The SDK's own subcommands: ``demo``, ``read``, ``coverage``, ``schemas check``.

Each ``cmd_*`` takes the parsed arguments in a :class:`CliContext` and
returns the exit code; :func:`register` adds them to the parser.
"""

from __future__ import annotations

import argparse
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seamless_sdk.cli import schema_changes
from seamless_sdk.cli.context import CliContext, int_arg, time_arg
from seamless_sdk.cli.store import describe_store, open_coordinator, open_store
from seamless_sdk.cli.tables import coverage_table, meta_table
from seamless_sdk.intervals import DAY, parse_interval
from seamless_sdk.provider import SeamlessDataProvider
from seamless_sdk.request import validate_node_ids, validate_request, validate_span
from seamless_sdk.strategy import Strategy

DEMO_NODES = ("demo:BTCUSDT", "demo:ETHUSDT", "demo:SOLUSDT")
"""The demo's nodes without a config; with one, its nodes (the ones Dagster shows)."""
STRATEGIES = [s.value for s in Strategy]


def cmd_demo(ctx: CliContext) -> int:
    """Backfill a month of 1m bars for the demo nodes with a progress bar, then read it."""
    args, console = ctx.args, ctx.console
    # Everything asked is checked before a store is opened (or created); --days
    # was checked by its parser.
    iv = parse_interval(args.interval)
    end = int(time.time()) // DAY * DAY
    start = end - args.days * DAY
    configured = tuple(ctx.calendars)
    nodes = validate_node_ids(args.nodes or configured or DEMO_NODES)
    validate_span(iv, start, end)
    fetcher = ctx.fetcher()
    ctx.check_conformance_config()
    # seamless.yaml's store of any kind (the one Dagster fills), or --store's file.
    provider = SeamlessDataProvider(
        store=open_store(ctx),
        fetcher=fetcher,
        strategy=Strategy.AUTO_BACKFILL,
        coordinator=open_coordinator(ctx),
        calendars=ctx.calendars,
    )
    console.print(
        f"[bold]Seamless demo[/]: {len(nodes)} nodes × {args.days} days of {iv.name} "
        f"bars, store {describe_store(ctx)}, {ctx.describe_sources()}"
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
    first, last = (time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (end - DAY, end))
    console.print(
        f"next: [bold]seamless read {node} {iv.name} {first} {last}[/] (a range, from "
        f"the same store), [bold]seamless coverage[/], or the Dagster UI "
        f'(README.md, "Dagster")',
        highlight=False,
    )
    return 0


def cmd_read(ctx: CliContext) -> int:
    """Read one range with the configured fetcher; print the frame and the metadata."""
    args = ctx.args
    strategy = Strategy.parse(args.strategy)
    validate_request(args.node, args.interval, args.start, args.end)  # before any store opens
    fetcher = ctx.fetcher()
    if strategy is not Strategy.FAIL_FAST:  # it never fetches, so it conforms nothing
        ctx.check_conformance_config()
    # FAIL_FAST only reads: a mistyped --store must not become a new empty file.
    # The store is seamless.yaml's of any kind (cli/store.py), or --store's file.
    store = open_store(ctx, must_exist=strategy is Strategy.FAIL_FAST)
    coordinator = open_coordinator(ctx)
    with SeamlessDataProvider(
        store=store, fetcher=fetcher, coordinator=coordinator, calendars=ctx.calendars
    ) as provider:
        result = provider.read(args.node, args.interval, args.start, args.end, strategy=strategy)
        ctx.console.print(result.df)
        ctx.console.print_json(data=result.meta.to_dict())
    return 0


def cmd_coverage(ctx: CliContext) -> int:
    """Print the stored coverage of one series, or of every series in the store."""
    args = ctx.args
    store = open_store(ctx, must_exist=True)
    try:
        series = [(args.node, args.interval)] if args.node else store.series()
        ctx.console.print(coverage_table(store, series))
    finally:
        store.close()
    return 0


def cmd_schemas_check(ctx: CliContext) -> int:
    """Check the schema registry's compatibility rules (exit 1 when broken)."""
    from seamless_sdk.conformance import schemas_check

    args = ctx.args
    return int(schemas_check(args.dir, baseline=args.baseline, as_json=args.json))


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``demo``, ``read``, ``coverage`` and ``schemas`` to ``sub``."""
    demo = sub.add_parser(
        "demo",
        parents=parents,
        help="backfill and read a month of bars from the configured fetcher",
        description=cmd_demo.__doc__,
    )
    demo.add_argument(
        "--days", type=int_arg(1), default=30, help="days to fill (default: %(default)s)"
    )
    demo.add_argument("--interval", default="1m", help="bar interval (default: %(default)s)")
    demo.add_argument(
        "--nodes",
        nargs="*",
        metavar="NODE",
        help=f"node ids (default: the config's nodes, else {' '.join(DEMO_NODES)})",
    )
    demo.set_defaults(func=cmd_demo)

    read = sub.add_parser(
        "read",
        parents=parents,
        help="read one range; print data and metadata",
        description=cmd_read.__doc__,
    )
    read.add_argument("node", help="node id, e.g. demo:BTCUSDT")
    read.add_argument("interval", help="bar interval: 1s 1m 5m 15m 1h 4h 1d ...")
    read.add_argument(
        "start", type=time_arg, help="first bar: ISO-8601 (naive = UTC) or epoch seconds"
    )
    read.add_argument(
        "end", type=time_arg, help="end of the range, exclusive (same forms as START)"
    )
    read.add_argument(
        "--strategy",
        default="seamless",
        type=str.lower,
        choices=STRATEGIES,
        help="what to do about missing bars (default: %(default)s; fail_fast never fetches "
        "and needs an existing --store)",
    )
    read.set_defaults(func=cmd_read)

    cov = sub.add_parser(
        "coverage", parents=parents, help="print stored coverage", description=cmd_coverage.__doc__
    )
    cov.add_argument("node", nargs="?", help="node id (default: every series in the store)")
    cov.add_argument(
        "interval", nargs="?", default="1m", help="bar interval with NODE (default: %(default)s)"
    )
    cov.set_defaults(func=cmd_coverage)

    schemas = sub.add_parser("schemas", parents=parents, help="schema registry tools")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    check = schemas_sub.add_parser(
        "check",
        parents=parents,
        help="check schema compatibility rules",
        description=cmd_schemas_check.__doc__,
    )
    check.add_argument("--dir", help="schema directory (default: the shipped registry)")
    check.add_argument("--baseline", help="the last release's schema directory to compare with")
    check.add_argument("--json", action="store_true", help="print the result as JSON")
    check.set_defaults(func=cmd_schemas_check)
    schema_changes.register(schemas_sub, parents)  # plan, apply, approve
