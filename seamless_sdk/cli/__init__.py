"""The ``seamless`` command line (also ``python -m seamless_sdk``).

    seamless demo                          fill a month of bars for a few nodes and read them
    seamless read NODE INTERVAL START END  read a range and print data and metadata
    seamless coverage [NODE [INTERVAL]]    print stored coverage
    seamless store verify|repair           find damaged chunks / drop them for a refill
    seamless coordinator quarantine list|retry|skip --dsn DSN
                                           windows the PostgreSQL coordinator gave up on
    seamless schemas check                 check the schema registry's compatibility
    seamless schemas plan|apply|approve    dry-run a schema/modes change, apply the plan
    seamless metrics serve --port N        serve the Prometheus metrics until Ctrl-C
    seamless doctor [--store PATH]         check config, store, endpoints, Dagster (exit 1 if not)
    seamless audit list|record|presets     the audit log of preset, mode and schema changes
    seamless backfill NODE... --start ... --end ...
                                           fill a range through Dagster (needs seamless[dagster])
    seamless canary --fetcher SPEC --nodes ... --start ... --end ...
                                           try a fetcher in a shadow store (canary promote REPORT)
    seamless reprocess --nodes ... --start ... --end ...
                                           re-fill a range with the current fetcher

``--store``, ``--config`` and ``--verbose`` go before or after the
subcommand. With a ``seamless.yaml`` (``--config``, ``$SEAMLESS_CONFIG`` or
the current directory) the CLI uses its fetcher and store, the ones Dagster
fills; without one, ``SyntheticFetcher`` (seed 0) and its own store
``var/seamless-cli.sqlite``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from rich.console import Console
from rich.markup import escape

from seamless_sdk.cli import audit as audit_cli
from seamless_sdk.cli import commands, coordinator, doctor, metrics, store
from seamless_sdk.cli.context import CliContext, CliParser, common_options
from seamless_sdk.cli.plugins import add_plugins
from seamless_sdk.errors import SeamlessError

BUILTIN_COMMANDS = (
    "demo",
    "read",
    "coverage",
    "schemas",
    "store",
    "metrics",
    "doctor",
    "audit",
)

__all__ = ["BUILTIN_COMMANDS", "CliContext", "build_parser", "main", "package_version"]


def package_version() -> str:
    """The installed distribution's version (``unknown`` when run from a bare checkout)."""
    try:
        return version("seamless")
    except PackageNotFoundError:
        return "unknown"


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser, with the plugin subcommands ``argv`` may run."""
    common = common_options()
    parser = CliParser(
        prog="seamless",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"seamless {package_version()}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.register(sub, [common])
    store.register(sub, [common])
    coordinator.register(sub, [common])
    metrics.register(sub, [common])
    doctor.register(sub, [common])
    audit_cli.register(sub, [common])
    add_plugins(sub, [common], argv, BUILTIN_COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; the exit code (1 for a Seamless error, with the message)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(args_list).parse_args(args_list)
    # soft_wrap: a message with a long path stays one line (tables still fit the width).
    console = Console(soft_wrap=True)
    ctx = CliContext(args, console)
    try:
        if args.command != "doctor":  # doctor reports a bad config as one of its checks
            ctx.check_config()
        return int(args.func(ctx))
    except SeamlessError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: what was committed stays committed
        console.print("[red]interrupted[/]", highlight=False)
        return 130


if __name__ == "__main__":
    sys.exit(main())
