"""``seamless canary``, ``seamless canary promote`` and ``seamless reprocess``.

Registered with the SDK's CLI through ``seamless.cli`` entry points (they
need the code location: its asset checks and its Dagster instance). The
work is :mod:`seamless_sdk.changes`; this module parses arguments, opens the
stores, prints tables and reports new data versions to the instance under
``$DAGSTER_HOME`` (without one it says that Dagster was not told).

    seamless canary --fetcher synthetic:7 --nodes demo:BTCUSDT --start 2024-01-01 --end 2024-03-01
    seamless canary promote var/canary/<run>/report.json [--force]
    seamless reprocess --nodes demo:BTCUSDT --start 2024-01-01 --end 2024-03-01
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from rich.table import Table

from seamless_assets.changes_support import (
    local_main_store,
    open_instance,
    partition_checks,
    record_window,
)
from seamless_assets.cli import _config, check_in_partitions
from seamless_assets.nodes import known_nodes
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.changes.canary import CanaryReport, PartitionCanary, run_canary
from seamless_sdk.changes.config import load_changes_config
from seamless_sdk.changes.promote import Promotion, promote
from seamless_sdk.changes.reprocess import Reprocessed, reprocess, work_dir_for
from seamless_sdk.changes.windows import partition_keys
from seamless_sdk.cli.context import CliContext, checked_dagster_home, time_arg
from seamless_sdk.config import SeamlessConfig
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.sessions import in_sessions
from seamless_sdk.fetchers.spec import build_fetcher, parse_fetcher_spec
from seamless_sdk.request import to_epoch_seconds
from seamless_sdk.stores.local import LocalStore


def _range_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--nodes", nargs="+", metavar="NODE", required=required, help="node ids, e.g. demo:BTCUSDT"
    )
    parser.add_argument(
        "--interval", default="1m", help="bar interval with an asset (default: %(default)s)"
    )
    parser.add_argument(
        "--start",
        type=time_arg,
        required=required,
        help="start: ISO-8601 (naive = UTC) or epoch seconds; every partition it touches",
    )
    parser.add_argument(
        "--end", type=time_arg, required=required, help="end, exclusive (same forms)"
    )
    parser.add_argument(
        "--changes-config",
        type=Path,
        metavar="PATH",
        help="tolerances, thresholds, approval (default: $SEAMLESS_CHANGES_CONFIG, else defaults)",
    )


def register_canary(
    sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:  # type: ignore[type-arg]
    """Add ``canary`` (and ``canary promote``) to the ``seamless`` CLI."""
    parser = sub.add_parser(
        "canary",
        parents=parents,
        help="fill partitions with a candidate fetcher into a shadow store and compare",
        description=cmd_canary.__doc__,
    )
    parser.add_argument("--fetcher", help="the candidate: synthetic[:seed] | file:<path> | mod:fn")
    _range_options(parser, required=False)
    parser.add_argument("--shadow", type=Path, help="shadow store file (default: a new one)")
    parser.add_argument("--report", type=Path, help="JSON report (default: beside the shadow)")
    parser.set_defaults(func=cmd_canary)
    actions = parser.add_subparsers(dest="canary_action", metavar="ACTION")
    prom = actions.add_parser(
        "promote",
        parents=parents,
        help="re-fill the canaried partitions of the main store from the shadow",
        description=cmd_promote.__doc__,
    )
    prom.add_argument("report", type=Path, help="the canary's JSON report")
    prom.add_argument("--force", action="store_true", help="promote a failed canary too")
    prom.set_defaults(func=cmd_promote)


def register_reprocess(
    sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
) -> None:  # type: ignore[type-arg]
    """Add ``reprocess`` to the ``seamless`` CLI."""
    parser = sub.add_parser(
        "reprocess",
        parents=parents,
        help="re-fill the windows of a range with the current fetcher and schema (resumable)",
        description=cmd_reprocess.__doc__,
    )
    _range_options(parser, required=True)
    parser.add_argument(
        "--work-dir", type=Path, help="progress and scratch store (default: beside the store)"
    )
    parser.set_defaults(func=cmd_reprocess)


def _resource(config: SeamlessConfig) -> SeamlessResource:
    return SeamlessResource.from_config(config)


def _keys(ctx: CliContext, config: SeamlessConfig) -> list[PartitionKey]:
    args = ctx.args
    for name in ("nodes", "start", "end"):
        if getattr(args, name, None) is None:
            raise InvalidRequestError(name, f"is required (--{name})")
    iv = config.interval(args.interval)
    start, end = to_epoch_seconds(args.start, "start"), to_epoch_seconds(args.end, "end")
    check_in_partitions(config, iv, start, end)
    return partition_keys(args.nodes, iv, start, end)


def cmd_canary(ctx: CliContext) -> int:
    """Fill the partitions of ``--nodes`` × ``[--start, --end)`` with ``--fetcher`` into a
    shadow store (the main store is only read), run conformance and the asset
    checks there, compare with the main store per partition, print a table,
    write a JSON report; exit 0 when the verdict passes, 1 otherwise."""
    args, console = ctx.args, ctx.console
    if not args.fetcher:
        raise InvalidRequestError("fetcher", "is required (--fetcher SPEC, the candidate)")
    spec = str(parse_fetcher_spec(args.fetcher))
    config = _config(ctx)
    local_main_store(config.store_config.kind, config.store)
    changes = load_changes_config(args.changes_config)
    keys = _keys(ctx, config)
    ctx.check_conformance_config()  # the shadow fill conforms: read it before the shadow exists
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    root = changes.shadow_dir() if changes.base_dir else config.store.parent / "canary"
    run_dir = root / f"{stamp}-{keys[0].interval.name}"
    shadow_path = (args.shadow or run_dir / "shadow.sqlite").resolve()
    report_path = (args.report or shadow_path.parent / "report.json").resolve()
    if shadow_path == config.store.resolve():
        raise InvalidRequestError("shadow", f"{shadow_path} is the main store")
    resource = _resource(config)
    fetcher = in_sessions(build_fetcher(spec), resource.calendar)
    checks = partition_checks(resource.calendar, strict=resource.strict, gx=resource.gx_check)
    console.print(
        f"canary of {spec} over {len(keys)} partition(s); main {config.store} (read only), "
        f"shadow {shadow_path}"
    )
    main = LocalStore(config.store, read_only=True)
    shadow = LocalStore(shadow_path)
    try:
        report = run_canary(
            main, shadow, fetcher, keys,
            fetcher_spec=spec, main_path=str(config.store.resolve()),
            shadow_path=str(shadow_path), policy=resource.fill_policy(),
            settings=changes.canary, checks=checks,
            progress=lambda item: console.print(f"  {item.key}: {_one_line(item)}"),
        )  # fmt: skip
    finally:
        main.close()
        shadow.close()
    report.write(report_path)
    console.print(canary_table(report))
    verdict = report.data["verdict"]
    if verdict["passed"]:
        console.print("[green]verdict: pass[/]")
    else:
        console.print("[red]verdict: fail[/]: " + "; ".join(verdict["reasons"]))
    console.print(f"report: {report_path}", highlight=False)
    console.print(f"promote with: seamless canary promote {report_path}", highlight=False)
    return 0 if verdict["passed"] else 1


def _one_line(item: PartitionCanary) -> str:
    c = item.comparison
    if item.error:
        return f"[red]{item.error}[/]"
    if c.identical:
        return "identical"
    return (
        f"{len(c.differing)} differing, {len(c.only_main)} only in main, "
        f"{len(c.only_shadow)} only in shadow"
    )


def canary_table(report: CanaryReport) -> Table:
    """One row per partition of a canary report."""
    table = Table(title=f"Canary of {report.data['fetcher']} ({report.data['interval']})")
    # Short headings: the table should fit an 80-column terminal.
    for column in (
        "partition", "main", "shadow", "differ", "main only", "shadow only", "flags",
        "failing checks", "error",
    ):  # fmt: skip
        table.add_column(column, no_wrap=column == "partition")
    for p in report.partitions:
        # Only the checks that fail on a side: a row of "ok/ok" says nothing.
        checks = ", ".join(
            f"{n} {_mark(c.get('main'))}/{_mark(c.get('shadow'))}"
            for n, c in p["checks"].items()
            if not (c.get("main") and c.get("shadow"))
        )
        table.add_row(
            p["partition"],
            f"{p['main_rows']:,}",
            f"{p['shadow_rows']:,}",
            f"{len(p['differing']):,}",
            f"{len(p['only_main']):,}",
            f"{len(p['only_shadow']):,}",
            _flags(p["main_flags"], p["shadow_flags"]),
            checks or ("all pass" if p["checks"] else "—"),
            p["error"] or "",
        )
    return table


def _flags(main: dict[str, int], shadow: dict[str, int]) -> str:
    """``same``, or each flag whose count differs as ``NAME main/shadow``."""
    names = sorted(set(main) | set(shadow))
    diff = [
        f"{n} {main.get(n, 0)}/{shadow.get(n, 0)}" for n in names if main.get(n) != shadow.get(n)
    ]
    return ", ".join(diff) or "same"


def _mark(passed: object) -> str:
    return "—" if passed is None else ("ok" if passed else "FAIL")


def cmd_promote(ctx: CliContext) -> int:
    """Re-fill exactly the canaried partitions of the main store from the shadow store,
    one transaction per partition, and report the new data versions to Dagster.
    A failed canary needs ``--force``."""
    args, console = ctx.args, ctx.console
    report = CanaryReport.load(args.report)
    checked_dagster_home()  # open_instance opens it only once the stores are open
    main_path, shadow_path = Path(report.data["main_store"]), Path(report.data["shadow_store"])
    for name, path in (("main_store", main_path), ("shadow_store", shadow_path)):
        if not path.is_file():
            raise InvalidRequestError(name, f"{path} (from the report) is not a file")
    main = LocalStore(main_path)
    shadow = LocalStore(shadow_path, read_only=True)
    promoted: list[Promotion] = []
    told = False
    try:
        with open_instance() as instance:

            def tell(item: Promotion) -> None:
                if instance is not None:
                    record_window(instance, main, item.key, source="canary_promote")

            promoted = promote(
                report, main, shadow, force=args.force, on_promoted=tell,
                progress=lambda p: console.print(
                    f"  {p.key}: {p.status}"
                    + (" (main changed since the canary)" if p.main_changed else "")
                ),
            )  # fmt: skip
            told = instance is not None
    finally:
        main.close()
        shadow.close()
    changed = sum(p.status == "promoted" for p in promoted)
    console.print(f"{changed} of {len(promoted)} partition(s) promoted into {main_path}")
    if changed and not told:
        console.print("DAGSTER_HOME is unset: no instance was told of the new data versions")
    return 0


def _check_known_nodes(
    config: SeamlessConfig, keys: list[PartitionKey], instance: dg.DagsterInstance | None
) -> None:
    """Reprocess re-fills the partitions of nodes Seamless knows (registered,
    configured or stored); any other id is refused before anything is written,
    as ``seamless backfill`` refuses it: a mistyped one was filled and
    registered as a new node."""
    nodes = list(dict.fromkeys(k.node_id for k in keys))
    known = known_nodes(instance, config)
    if config.store.is_file():
        with LocalStore(config.store, read_only=True) as stored:
            known |= {node for node, _ in stored.series()}
    unknown = [n for n in nodes if n not in known]
    if unknown:
        raise InvalidRequestError(
            "nodes",
            f"{unknown} are neither registered, configured nor stored: reprocess re-fills "
            "partitions Seamless has (add new nodes with `seamless nodes add`, fill them "
            "with `seamless backfill`)",
        )


def cmd_reprocess(ctx: CliContext) -> int:
    """Re-fill every partition of ``--nodes`` × ``[--start, --end)`` with the configured
    fetcher and the schema in force. The old bars are served until the new ones
    commit (one transaction per partition); only partitions whose content
    changed get a new Dagster data version. Killed, it resumes where it was
    when run again with the same arguments; run twice, the second changes nothing."""
    args, console = ctx.args, ctx.console
    config = _config(ctx)
    local_main_store(config.store_config.kind, config.store)
    keys = _keys(ctx, config)
    # Both are read only once the work directory and its scratch store exist.
    checked_dagster_home()
    ctx.check_conformance_config()
    done: list[Reprocessed] = []
    told = False
    with open_instance() as instance:
        _check_known_nodes(config, keys, instance)
        resource = _resource(config)
        root = args.work_dir or config.store.parent / "reprocess"
        work_dir = work_dir_for(root.resolve(), keys, config.fetcher)
        console.print(
            f"reprocess of {len(keys)} partition(s) in {config.store} with {config.fetcher}; "
            f"progress in {work_dir}"
        )
        main = LocalStore(config.store)
        try:

            def tell(item: Reprocessed) -> None:
                if instance is not None:
                    record_window(instance, main, item.key, source="reprocess")

            done = reprocess(
                main, resource.get_fetcher(), keys, work_dir=work_dir,
                policy=resource.fill_policy(), on_changed=tell,
                progress=lambda r: console.print(
                    f"  {r.key}: {r.outcome}{' (done before)' if r.resumed else ''}"
                    f"{': ' + r.error if r.error else ''}"
                ),
            )  # fmt: skip
            told = instance is not None
        finally:
            main.close()
    counts = {o: sum(r.outcome == o for r in done) for o in ("changed", "unchanged", "failed")}
    console.print(", ".join(f"{n} {o}" for o, n in counts.items()))
    if counts["changed"] and not told:
        console.print("DAGSTER_HOME is unset: no instance was told of the new data versions")
    return 1 if counts["failed"] else 0
