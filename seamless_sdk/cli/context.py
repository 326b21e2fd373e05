"""What every subcommand shares: the global options and what they resolve to.

The options (``--store``, ``--config``, ``--verbose``) are accepted before
and after the subcommand (``seamless --store x read ...`` and ``seamless
read ... --store x``): they are added to the top-level parser and to every
subcommand's with ``default=SUPPRESS``, so whichever is given wins and an
absent one leaves no attribute behind.

Which store and fetcher a command uses (defect 5: the CLI used to fill the
code location's store with bars of another fetcher):

- a ``seamless.yaml`` is found (``--config``, ``$SEAMLESS_CONFIG`` or the
  current directory): its fetcher, and its store unless ``--store`` or
  ``$SEAMLESS_STORE`` says otherwise, so the CLI and Dagster agree;
- none is found: ``SyntheticFetcher`` (seed 0) and the CLI's own store,
  ``var/seamless-cli.sqlite``, so it never writes into a store it does not
  know the source of.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from seamless_sdk import settings
from seamless_sdk.config import SeamlessConfig, load_config, optional_config_file
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.spec import build_fetcher

OWN_STORE = Path("var/seamless-cli.sqlite")
"""The CLI's store when no ``seamless.yaml`` says which to share."""
UNCONFIGURED_FETCHER = "synthetic"


def time_arg(text: str) -> int | str:
    """A time on the command line: all digits are epoch seconds, anything else ISO-8601
    (the read validates it, so a bad value is an error naming the field)."""
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"-?[0-9]+", stripped) else stripped


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the options every (sub)command takes."""
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("common options (before or after the subcommand)")
    group.add_argument(
        "--store",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help=f"LocalStore file (default: ${settings.STORE_ENV}, else the store of "
        f"seamless.yaml, else {OWN_STORE})",
    )
    group.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help=f"seamless.yaml to use (default: ${settings.CONFIG_ENV}, else ./seamless.yaml "
        "when there is one); its fetcher and store are the CLI's",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print library logs (Dagster's events and warnings) instead of filing them",
    )
    return parser


@dataclass
class CliContext:
    """The parsed arguments, the console, and the config, store and fetcher they mean."""

    args: argparse.Namespace
    console: Console
    _config: SeamlessConfig | None = field(default=None, init=False)
    _config_read: bool = field(default=False, init=False)

    @property
    def verbose(self) -> bool:
        """Whether ``--verbose`` was given (before or after the subcommand)."""
        return bool(getattr(self.args, "verbose", False))

    @property
    def config(self) -> SeamlessConfig | None:
        """The ``seamless.yaml`` in force, or ``None`` when there is none (read once)."""
        if not self._config_read:
            explicit = getattr(self.args, "config", None)
            path = Path(explicit) if explicit else optional_config_file()
            self._config = load_config(path) if path is not None else None
            self._config_read = True
        return self._config

    def check_config(self) -> None:
        """Read the config now: one named by ``--config`` or ``$SEAMLESS_CONFIG``
        (or found here) that is bad is an error even for a command whose
        ``--store`` means it would never be read."""
        self.config  # noqa: B018 (the property reads and caches it)

    def require_config(self) -> SeamlessConfig:
        """The config, or the loader's error saying where it looked."""
        return self.config or load_config(getattr(self.args, "config", None))

    def store_path(self, *, must_exist: bool = False) -> Path:
        """The store file (see the module docstring for the order).

        ``must_exist``: a command that only reads (``coverage``, a FAIL_FAST
        ``read``) must not create an empty store at a mistyped path.
        """
        explicit = getattr(self.args, "store", None)
        if explicit is not None:
            path = Path(explicit).expanduser()
        elif (env := settings.store_override()) is not None:
            path = env
        elif self.config is not None:
            path = self.config.store
        else:
            path = OWN_STORE
        if must_exist and not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise InvalidRequestError(
                "store", f"{path} {what} (name an existing store with --store or $SEAMLESS_STORE)"
            )
        if must_exist and path.stat().st_size == 0:
            # Opening it would write a new store's schema into it: a command
            # that only reads must not.
            raise InvalidRequestError("store", f"{path} is empty: no store has been written there")
        return path

    @property
    def fetcher_spec(self) -> str:
        """The fetcher spec in force: the config's, else ``synthetic`` (seed 0)."""
        return self.config.fetcher if self.config is not None else UNCONFIGURED_FETCHER

    def fetcher(self) -> Any:
        """A fresh fetcher built from :attr:`fetcher_spec`."""
        return build_fetcher(self.fetcher_spec)

    def describe_sources(self) -> str:
        """One line: which fetcher and config the command uses, for its header."""
        where = f"from {self.config.source}" if self.config and self.config.source else "no config"
        return f"fetcher {self.fetcher_spec} ({where})"
