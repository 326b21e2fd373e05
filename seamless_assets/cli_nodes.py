"""``seamless nodes add|remove|list``: the nodes Dagster fills, managed on purpose.

Registered with the SDK's CLI through the ``seamless.cli`` entry point
(``register``), like ``seamless backfill``. The commands work on the Dagster
instance of ``$DAGSTER_HOME`` (the one the webserver and daemon use); without
it, or with one that is not an existing directory, there is no lasting
instance to change, which is an error (``list`` too: a listing that called
every node unregistered would be wrong about the real instance). The rules
are in :mod:`seamless_assets.nodes`.
"""

from __future__ import annotations

import argparse

import dagster as dg
from rich.table import Table

from seamless_assets.home import open_home_instance
from seamless_assets.nodes import add_nodes, list_nodes, remove_nodes
from seamless_sdk import settings
from seamless_sdk.cli.context import CliContext, checked_dagster_home
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.request import validate_node_ids


def register(sub: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:  # type: ignore[type-arg]
    """Add ``nodes`` to the ``seamless`` CLI (the ``seamless.cli`` entry point)."""
    parser = sub.add_parser(
        "nodes",
        parents=parents,
        help="add, remove or list the nodes Dagster fills (needs seamless[dagster])",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    actions = parser.add_subparsers(dest="nodes_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", parents=parents, help="register nodes as partitions")
    add.add_argument("nodes", nargs="+", metavar="NODE", help="node ids to fill, e.g. demo:BTCUSDT")
    add.set_defaults(func=_add)
    remove = actions.add_parser(
        "remove", parents=parents, help="delete nodes' partitions (stops their tail)"
    )
    remove.add_argument(
        "nodes", nargs="+", metavar="NODE", help="registered node ids to stop filling"
    )
    remove.set_defaults(func=_remove)
    listing = actions.add_parser("list", parents=parents, help="registered and configured nodes")
    listing.set_defaults(func=_list)


def _instance() -> dg.DagsterInstance:
    """The instance of ``$DAGSTER_HOME``. Opening it writes its storage into the
    directory, so a command checks everything else it was given first."""
    if checked_dagster_home() is None:
        raise InvalidRequestError(
            settings.DAGSTER_HOME_ENV,
            "is not set: `seamless nodes` changes the instance the webserver and daemon "
            "use; set DAGSTER_HOME to its directory",
        )
    return open_home_instance()


def _add(ctx: CliContext) -> int:
    nodes = validate_node_ids(ctx.args.nodes)
    with _instance() as instance:
        added = add_nodes(instance, nodes)
    known = [n for n in nodes if n not in added]
    ctx.console.print(f"registered {len(added)} node(s): {', '.join(added) or '-'}")
    if known:
        ctx.console.print(f"already registered: {', '.join(known)}")
    return 0


def _remove(ctx: CliContext) -> int:
    config, nodes = ctx.require_config(), validate_node_ids(ctx.args.nodes)
    with _instance() as instance:
        removed = remove_nodes(instance, config, nodes)
    ctx.console.print(
        f"removed {len(removed)} node(s): {', '.join(removed)} (their bars stay in the store)"
    )
    return 0


def _list(ctx: CliContext) -> int:
    config = ctx.require_config()
    with _instance() as instance:
        rows = list_nodes(instance, config)
    table = Table(title="nodes")
    for column in ("node", "registered", "in seamless.yaml", "calendar"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.node_id,
            "yes" if row.registered else "no",
            "yes" if row.configured else "no",
            row.calendar,
        )
    ctx.console.print(table)
    return 0
