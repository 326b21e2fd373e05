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

The config's node calendars come too (:attr:`CliContext.calendars`): a read
of ``demo:SPY`` on XNYS expects its session bars only, and the synthetic
fetcher serves only those, as it does in the code location; otherwise the
CLI would store nights and weekends that Dagster's completeness check then
counts as unexpected bars.

The checks of what a user hands a command live here too, so every command
refuses the same input the same way, before it creates anything: whole-number
options (:func:`int_arg`), ``$DAGSTER_HOME`` (:func:`checked_dagster_home`)
and the conformance modes (:meth:`CliContext.check_conformance_config`); the
files a command reads are checked by their readers (``checks.read_text_file``).
Every parser is a :class:`CliParser`, which takes no abbreviated option.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from seamless_sdk import settings
from seamless_sdk.calendars import Calendar, calendar_for
from seamless_sdk.config import SeamlessConfig, load_config, optional_config_file
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.sessions import in_sessions
from seamless_sdk.fetchers.spec import build_fetcher
from seamless_sdk.policy_settings import PolicySettings

OWN_STORE = Path("var/seamless-cli.sqlite")
"""The CLI's store when no ``seamless.yaml`` says which to share."""
UNCONFIGURED_FETCHER = "synthetic"


def time_arg(text: str) -> int | str:
    """A time on the command line: all digits are epoch seconds, anything else ISO-8601
    (the read validates it, so a bad value is an error naming the field)."""
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"-?[0-9]+", stripped) else stripped


class CliParser(argparse.ArgumentParser):
    """The parser of the CLI and, through ``add_subparsers`` (whose parsers are of
    their parent's class), of every subcommand, plugins' included.

    It takes no abbreviated long option (argparse's ``allow_abbrev``): with
    abbreviations a typo that happens to be a prefix runs as the option it
    shortens (``--las`` as ``--last``), and an option added to a command later
    silently changes what an old command line means (``--log`` written for
    ``--log-file`` means the new ``--log``). An option is its whole name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Forced, not defaulted: one rule for every parser, whoever adds it.
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})


def int_arg(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a whole-number option: its value in ``[low, high]``
    (no upper bound when ``high`` is None), else argparse's usage error naming the
    option (``argument --last: 0 is not a whole number >= 1``, exit 2)."""
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is not a whole number {bounds}")
        return value

    return parse


def checked_dagster_home() -> Path | None:
    """``$DAGSTER_HOME``, or ``None`` when it is unset; one that is set but is not an
    existing directory is ``InvalidRequestError`` naming it (Dagster's own error
    comes with a traceback, and only once the command has started writing)."""
    home = settings.dagster_home()
    if home is None or home.is_dir():
        return home
    what = "is not a directory" if home.exists() else "does not exist"
    raise InvalidRequestError(
        settings.DAGSTER_HOME_ENV,
        f"{home} {what}: set it to the directory of the Dagster instance "
        "(the one the webserver and daemon use)",
    )


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the options every (sub)command takes."""
    parser = CliParser(add_help=False)
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

    @property
    def policy(self) -> PolicySettings:
        """The ``seamless:`` settings of the config in force (the defaults without one)."""
        config = self.config
        return config.policy if config is not None else PolicySettings()

    def check_conformance_config(self) -> None:
        """Read the conformance modes in force now (``$SEAMLESS_CONFORMANCE_CONFIG``
        over the shipped ones, then the config's ``conformance.modes``).

        A command that conforms fetched bars calls this before it creates a
        store, a log or a work directory: the first fetch would read them only
        after that, so a missing or bad file left those behind.
        """
        self.policy.conformance_config()

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

    @property
    def calendars(self) -> dict[str, str]:
        """Node id → calendar code of the config's nodes (none without a config)."""
        return self.config.calendars if self.config is not None else {}

    def calendar(self, node_id: str) -> Calendar:
        """The node's calendar in :attr:`calendars` (24/7 when it has none)."""
        return calendar_for(self.calendars.get(node_id))

    def fetcher(self) -> Any:
        """A fresh fetcher built from :attr:`fetcher_spec`; a synthetic one serves
        each node's sessions only, as in the code location."""
        return in_sessions(build_fetcher(self.fetcher_spec), self.calendar)

    def describe_sources(self) -> str:
        """One line: which fetcher and config the command uses, for its header."""
        where = f"from {self.config.source}" if self.config and self.config.source else "no config"
        return f"fetcher {self.fetcher_spec} ({where})"
