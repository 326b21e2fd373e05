"""The CLI's store: which one a command opens, and ``seamless store verify|repair``.

:func:`open_store` is the store of a command that reads bars: ``--store``
or ``$SEAMLESS_STORE`` (a LocalStore file), else the ``store:`` of
``seamless.yaml`` whatever its kind (a path, or a mapping selecting a
PostgresStore or QuestDBStore, as the code location reads it), else the
CLI's own LocalStore.

``verify`` lists every chunk whose checksum or contents do not match (exit
1 when there is any, 0 otherwise); ``repair`` drops the damaged chunks'
coverage so the next fill re-fetches them, and lists what it dropped. Both
work on an existing LocalStore file only: the checksums are LocalStore's.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from seamless_sdk.cli.context import CliContext
from seamless_sdk.cli.tables import damage_table
from seamless_sdk.config_backends import LocalStoreConfig, PostgresStoreConfig, QuestDBStoreConfig
from seamless_sdk.coordination.base import Coordinator
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.stores.base import BarStore
from seamless_sdk.stores.local import DamagedChunk, LocalStore


def server_store(ctx: CliContext) -> PostgresStoreConfig | QuestDBStoreConfig | None:
    """The config's server store, unless ``--store`` names a LocalStore file
    (``$SEAMLESS_STORE`` already made the config's store a LocalStore)."""
    if getattr(ctx.args, "store", None) is not None or ctx.config is None:
        return None
    return ctx.config.server_store


def open_store(ctx: CliContext, *, must_exist: bool = False) -> BarStore:
    """The store a command reads and fills (see the module docstring).

    ``must_exist`` applies to a LocalStore file: a command that only reads
    must not create an empty store at a mistyped path.
    """
    server = server_store(ctx)
    if server is not None:
        return server.open()
    return LocalStoreConfig(path=str(ctx.store_path(must_exist=must_exist))).open()


def open_coordinator(ctx: CliContext) -> Coordinator | None:
    """The ``coordinator:`` of ``seamless.yaml`` for the fills of a command, so
    the CLI's fills claim windows where the code location's do; none when
    ``--store`` names a file of this host's own."""
    if getattr(ctx.args, "store", None) is not None or ctx.config is None:
        return None
    return None if ctx.config.coordinator is None else ctx.config.coordinator.open()


def describe_store(ctx: CliContext) -> str:
    """One line naming the store :func:`open_store` opens, without passwords."""
    server = server_store(ctx)
    return server.describe() if server is not None else f"LocalStore {ctx.store_path()}"


def _run(ctx: CliContext, action: str) -> Sequence[DamagedChunk]:
    server = server_store(ctx)
    if server is not None:
        raise InvalidRequestError(
            "store",
            f"store {action} checks LocalStore files; the configured store is "
            f"{server.describe()} (name a file with --store)",
        )
    store = LocalStore(ctx.store_path(must_exist=True))  # not an empty file: verify changes nothing
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
