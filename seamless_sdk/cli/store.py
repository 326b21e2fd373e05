"""``seamless store verify`` and ``seamless store repair``: find and drop damaged chunks.

``verify`` lists every chunk whose checksum or contents do not match (exit
1 when there is any, 0 otherwise); ``repair`` drops the damaged chunks'
coverage so the next fill re-fetches them, and lists what it dropped. Both
work on an existing store only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from seamless_sdk.cli.context import CliContext
from seamless_sdk.cli.tables import damage_table
from seamless_sdk.stores.local import DamagedChunk, LocalStore


def _run(ctx: CliContext, action: str) -> Sequence[DamagedChunk]:
    store = LocalStore(ctx.store_path(must_exist=True))
    try:
        return list(store.verify() if action == "verify" else store.repair())
    finally:
        store.close()


def cmd_verify(ctx: CliContext) -> int:
    """Check every stored chunk; list the damaged ones (exit 1 when there are any)."""
    damaged = _run(ctx, "verify")
    if not damaged:
        ctx.console.print(f"{ctx.store_path()}: every chunk is intact")
        return 0
    ctx.console.print(damage_table(damaged, f"Damaged chunks in {ctx.store_path()}"))
    ctx.console.print("run [bold]seamless store repair[/] to drop them so they are re-fetched")
    return 1


def cmd_repair(ctx: CliContext) -> int:
    """Drop the coverage of every damaged chunk so the next fill re-fetches it."""
    dropped = _run(ctx, "repair")
    if not dropped:
        ctx.console.print(f"{ctx.store_path()}: nothing to repair")
        return 0
    ctx.console.print(damage_table(dropped, f"Dropped from {ctx.store_path()}"))
    ctx.console.print(f"{len(dropped)} chunk(s) dropped; their windows are missing until refilled")
    return 0


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``store verify`` and ``store repair`` to ``sub``."""
    store = sub.add_parser("store", parents=parents, help="check or repair a store file")
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", parents=parents, help="list damaged chunks", description=cmd_verify.__doc__
    )
    verify.set_defaults(func=cmd_verify)
    repair = actions.add_parser(
        "repair",
        parents=parents,
        help="drop damaged chunks so they are re-fetched",
        description=cmd_repair.__doc__,
    )
    repair.set_defaults(func=cmd_repair)
