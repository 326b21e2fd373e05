"""``seamless schemas plan``, ``schemas apply`` and ``schemas approve``.

``plan`` is a dry run of a proposed schema-registry or modes change over the
stored data (:mod:`seamless_sdk.changes.plan`): it prints the compatibility
verdict and the stored partitions that would now fail, and writes a plan
file; ``apply PLAN`` applies exactly that change if the bundle in force is
still the one planned against, with the approval the changes config asks
for, and writes the audit entry; ``approve PLAN`` prints the approval token
of a plan (for whoever holds ``$SEAMLESS_APPROVAL_SECRET``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from seamless_sdk import settings
from seamless_sdk.changes.config import load_changes_config
from seamless_sdk.changes.plan import (
    apply_plan,
    approval_token,
    load_plan,
    make_plan,
    write_plan,
)
from seamless_sdk.cli.context import CliContext, int_arg
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.stores.local import LocalStore

DEFAULT_PLAN = Path("schema-plan.json")
Subparsers = argparse._SubParsersAction  # type: ignore[type-arg]


def cmd_plan(ctx: CliContext) -> int:
    """Dry-run a proposed schema or modes change over the stored data and write a plan
    file; exit 0 when it is safe, 1 when it is incompatible or breaks stored data."""
    args, console = ctx.args, ctx.console
    path = ctx.store_path(must_exist=True)
    store = LocalStore(path, read_only=True)
    try:
        plan = make_plan(
            store=store,
            schema_files=[Path(f) for f in args.schema or ()],
            proposed_registry=Path(args.registry) if args.registry else None,
            modes_file=Path(args.modes) if args.modes else None,
            registry_dir=Path(args.registry_dir) if args.registry_dir else None,
            modes_target=Path(args.modes_target) if args.modes_target else None,
            sample=args.sample,
            seed=args.seed,
            store_name=str(path.resolve()),
        )
    finally:
        store.close()
    out = write_plan(plan, args.out)
    print_plan(ctx, plan)
    console.print(f"plan: {out}", highlight=False)
    if plan["verdict"] != "incompatible":
        console.print(f"apply with: seamless schemas apply {out}", highlight=False)
    return 0 if plan["verdict"] == "safe" else 1


def print_plan(ctx: CliContext, plan: dict[str, Any]) -> None:
    """The plan's verdict, compatibility problems and failing partitions."""
    console = ctx.console
    console.print(f"bundle {plan['old_fingerprint'][:12]} -> {plan['new_fingerprint'][:12]}")
    for change in plan["changes"]:
        verb = "replaces" if change["replaces"] else "adds"
        console.print(f"  {change['kind']}: {verb} {change['path']}", highlight=False)
    problems = plan["compatibility"]["problems"]
    if problems:
        table = Table(title="Compatibility: broken rules")
        for column in ("rule", "dataset", "versions", "field", "problem"):
            table.add_column(column)
        for p in problems:
            versions = f"v{p['old']} -> v{p['new']}"
            table.add_row(p["rule"], p["dataset"], versions, p["field"] or "—", p["problem"])
        console.print(table)
    else:
        console.print("compatibility: every rule holds")
    stored = plan["stored"]
    what = "a sample of " if stored["sampled"] else ""
    console.print(
        f"stored data: {what}{stored['partitions_checked']} of {stored['partitions_stored']} "
        f"partition(s) checked, {len(stored['failing'])} fail the proposed bundle, "
        f"{stored['newly_failing']} of them pass today"
    )
    if stored["failing"]:
        table = Table(title="Stored partitions that would fail")
        for column in ("partition", "interval", "bars", "first error", "fails today"):
            table.add_column(column)
        for f in stored["failing"]:
            table.add_row(
                f["partition"], f["interval"], f"{f['rows']:,}", f["errors"][0],
                "yes" if f["fails_now"] else "no",
            )  # fmt: skip
        console.print(table)
    colour = {"safe": "green", "breaks_stored_data": "yellow"}.get(plan["verdict"], "red")
    console.print(f"verdict: [{colour}]{plan['verdict']}[/]")


def cmd_apply(ctx: CliContext) -> int:
    """Apply exactly the change a plan file describes: refused when the bundle in force
    is not the one it was planned against, when it breaks compatibility, when it
    breaks stored data without ``--force``, or without the configured approval."""
    args, console = ctx.args, ctx.console
    plan = load_plan(args.plan)
    rule = load_changes_config(args.changes_config).schemas
    entry = apply_plan(
        plan, rule=rule, approved_by=args.approved_by, force=args.force, plan_path=str(args.plan)
    )
    for change in plan["changes"]:
        console.print(f"wrote {change['path']}", highlight=False)
    console.print(
        f"bundle {entry.old_fingerprint and entry.old_fingerprint[:12]} -> "
        f"{entry.new_fingerprint and entry.new_fingerprint[:12]}, audited as {entry.actor}"
    )
    console.print("processes pick up a modes change by themselves; restart them for schemas")
    return 0


def cmd_approve(ctx: CliContext) -> int:
    """Print the approval token of a plan (needs ``$SEAMLESS_APPROVAL_SECRET``)."""
    plan = load_plan(ctx.args.plan)
    secret = settings.approval_secret()
    if not secret:
        raise InvalidRequestError(settings.APPROVAL_SECRET_ENV, "is unset: it signs the token")
    ctx.console.print(approval_token(plan, secret), highlight=False)
    return 0


def register(actions: Subparsers, parents: list[argparse.ArgumentParser]) -> None:
    """Add ``plan``, ``apply`` and ``approve`` to the ``schemas`` actions."""
    plan = actions.add_parser(
        "plan",
        parents=parents,
        help="dry-run a schema or modes change",
        description=cmd_plan.__doc__,
    )
    plan.add_argument(
        "--schema",
        action="append",
        metavar="FILE",
        help="a proposed <dataset>.v<N>.yaml (added, or replacing one); repeatable",
    )
    plan.add_argument(
        "--registry",
        metavar="DIR",
        help="a whole proposed registry directory (its new and changed files are the change)",
    )
    plan.add_argument("--modes", metavar="FILE", help="the proposed modes override file")
    plan.add_argument(
        "--registry-dir",
        metavar="DIR",
        help="the registry apply writes to (default: $SEAMLESS_SCHEMA_DIR)",
    )
    plan.add_argument(
        "--modes-target",
        metavar="FILE",
        help=f"the override file --modes replaces (default: ${settings.CONFORMANCE_CONFIG_ENV})",
    )
    plan.add_argument(
        "--sample", type=int_arg(1), metavar="N", help="judge N stored partitions (default: all)"
    )
    plan.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    plan.add_argument(
        "--out", type=Path, default=DEFAULT_PLAN, help="plan file (default: %(default)s)"
    )
    plan.set_defaults(func=cmd_plan)

    apply = actions.add_parser(
        "apply", parents=parents, help="apply a plan file", description=cmd_apply.__doc__
    )
    apply.add_argument("plan", type=Path, help="the plan file `schemas plan` wrote")
    apply.add_argument("--approved-by", metavar="NAME", help="the second person who approved it")
    apply.add_argument(
        "--force", action="store_true", help="apply a plan that breaks stored partitions"
    )
    apply.add_argument(
        "--changes-config",
        type=Path,
        metavar="PATH",
        help="approval rule (default: $SEAMLESS_CHANGES_CONFIG, else none needed)",
    )
    apply.set_defaults(func=cmd_apply)

    approve = actions.add_parser(
        "approve",
        parents=parents,
        help="print a plan's approval token",
        description=cmd_approve.__doc__,
    )
    approve.add_argument("plan", type=Path, help="the plan file")
    approve.set_defaults(func=cmd_approve)
