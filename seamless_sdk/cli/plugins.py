"""Subcommands from other distributions, through the ``seamless.cli`` entry points.

The SDK's CLI never imports the code location: ``seamless backfill`` is
registered by ``seamless_assets`` (``[project.entry-points."seamless.cli"]``
in pyproject.toml) and only works where the ``[dagster]`` extra is installed.
An entry point names a ``register(subparsers, parents)`` function that adds
its subcommand(s) with ``parents`` (the common options) and sets
``func(ctx: CliContext) -> int`` as their default.

Loading a plugin imports its package (Dagster, for the code location), which
costs a second or more, so a plugin is loaded only when its subcommand runs
or when the top-level help lists every command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from seamless_sdk.cli.context import CliContext
from seamless_sdk.errors import InvalidRequestError

GROUP = "seamless.cli"
"""The entry-point group of CLI plugins."""

_VALUE_OPTIONS = frozenset({"--store", "--config"})
"""Top-level options that take a value (skipped when finding the subcommand)."""
_HELP = frozenset({"-h", "--help"})


def plugin_entry_points(reserved: Sequence[str] = ()) -> list[EntryPoint]:
    """The group's entry points, minus names the SDK's own commands use."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name not in reserved:
            seen.setdefault(ep.name, ep)  # the first distribution to claim a name keeps it
    return list(seen.values())


def requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (its first positional word), if any."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def add_plugins(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
    argv: Sequence[str],
    reserved: Sequence[str],
) -> None:
    """Register the plugin subcommands ``argv`` may run (all of them for top-level help)."""
    wanted = requested_command(argv)
    if wanted is None and not _HELP & set(argv):
        return  # `--version`, or no command at all: argparse answers without plugins
    for ep in plugin_entry_points(reserved):
        if wanted is not None and ep.name != wanted:
            continue
        try:
            register = ep.load()
        except ImportError as exc:
            _add_unavailable(sub, parents, ep, exc)
            continue
        register(sub, parents)


def _add_unavailable(
    sub: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
    ep: EntryPoint,
    exc: ImportError,
) -> None:
    """A stand-in that says which extra the command needs, instead of a traceback."""
    extra = "dagster" if "dagster" in str(exc) or ep.module.startswith("seamless_assets") else ""
    hint = f"pip install 'seamless[{extra}]'" if extra else "install the package that provides it"
    parser = sub.add_parser(
        ep.name, parents=parents, help=f"(unavailable: needs {hint})", add_help=False
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the command's arguments")
    parser.set_defaults(func=_unavailable(ep.name, hint, exc))


def _unavailable(name: str, hint: str, exc: ImportError) -> Callable[[CliContext], int]:
    def run(ctx: CliContext) -> int:
        raise InvalidRequestError(
            "command", f"seamless {name} is not installed here: {hint} ({exc})"
        )

    return run
