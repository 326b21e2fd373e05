"""``seamless.yaml``: the one configuration the code location and the CLI share.

Dagster builds the code location from it (``seamless_assets``), and the
``seamless`` command reads the same file so its reads fetch from the same
source into the same store. It lives here, in the SDK, because the CLI must
not import the code location.

The file is the one named by ``SEAMLESS_CONFIG``, else ``./seamless.yaml``
in the current directory; never a file inside the installed package.
``SEAMLESS_STORE`` overrides ``store``. Relative paths in the file are
relative to the file, so the Dagster webserver, daemon and run processes
agree whatever their working directory.

Every key is typed (:class:`ConfigFile`): a float is never rounded into an
integer key, a string is not a boolean, an unknown key is an error, and each
error is ``InvalidRequestError`` naming the key (``backfill.retries: 2.7 is
not an integer ...``). Every number has an upper bound as well as a lower
one, the SDK's own limit where it has one (``backfill.retries: 1000000000 is
not <= 99``), and a key given twice is an error, not "the last one wins"
(``seamless_sdk.yaml_files.load_yaml``). An empty value (``nodes:``,
``calendar:``) means the default, at any level.

.. code-block:: yaml

    store: var/seamless.sqlite       # the LocalStore file
    partition_start: "2024-01-01"    # first partition window
    intervals: [1m, 1h, 1d]          # one asset per interval: bars_1m, bars_1h, bars_1d
    fetcher: synthetic               # synthetic[:seed] | file:<path> | package.module:factory
    nodes:
      - id: "demo:BTCUSDT"           # 24/7 unless a calendar is given
      - {id: "demo:SPY", calendar: XNYS}

``store`` may also be a mapping that picks a server store
(``{kind: postgres, dsn: ...}``, ``{kind: questdb, ilp: ..., pg: ...}``) and
``coordinator: {kind: postgres, dsn: ...}`` adds single flight across hosts:
see :mod:`seamless_sdk.config_backends`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from seamless_sdk import settings
from seamless_sdk.backfill.dagster import requests_path_for
from seamless_sdk.calendars import calendar_for
from seamless_sdk.checks import MAX_WAIT_S, MAX_WORKERS
from seamless_sdk.config_backends import (
    DEFAULT_STORE,
    CoordinatorConfig,
    LocalStoreConfig,
    PostgresStoreConfig,
    QuestDBStoreConfig,
    StoreConfig,
    store_setting,
    with_coordinator,
)
from seamless_sdk.config_model import YamlModel, validate
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.fetchers.spec import FetcherSpec, parse_fetcher_spec
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.policy_settings import PolicySection, PolicySettings, parse_policy_settings
from seamless_sdk.request import to_epoch_seconds, validate_node_id
from seamless_sdk.sla import (
    DEFAULT_JITTER_RATIO,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RETRY_BACKOFF_MS,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MS,
)
from seamless_sdk.yaml_files import read_yaml_mapping

CONFIG_NAME = "seamless.yaml"
"""The file looked for in the current directory when ``SEAMLESS_CONFIG`` is unset."""
DEFAULT_CALENDAR = "24/7"
DEFAULT_PARTITION_START = "2024-01-01"
DEFAULT_INTERVALS = ("1m", "1h", "1d")

# Every number of the file has an upper bound as well as a lower one: a value
# past it is a typo (``retries: 1000000000``), and accepting it would mean a
# run retried forever or a sensor tick that never comes. Where the SDK has a
# limit of its own for the same thing, the bound is that limit.
MAX_SECONDS = int(MAX_WAIT_S)
"""The longest setting in seconds (a delay, a tick, a record period): one week,
the SDK's longest wait anywhere (``checks.MAX_WAIT_S``, ``sla.MAX_BUDGET_MS``)."""
MAX_PARTITIONS_PER_RUN = 100_000
"""The most partitions one run may fill (``backfill.max_partitions_per_run``):
a run holds its partition list in memory and in its run config, and a failed
run is retried whole, so runs larger than this only make retries longer."""
MAX_TAIL_WINDOWS = 100
"""The most newest windows the tail keeps filled per node (``sensors.tail_windows``):
every tick reads their coverage for every node; history is the backfill's job."""

Seconds = Annotated[int, Field(ge=1, le=MAX_SECONDS)]
"""A sensor tick: Dagster's ``minimum_interval_seconds`` is whole seconds, so
``0.5`` is an error here rather than a silent 0."""


class NodeConfig(YamlModel):
    """A configured node and its trading calendar code (``24/7`` or an exchange code)."""

    id: str
    calendar: str = DEFAULT_CALENDAR

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        return validate_node_id(value)

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        calendar_for(value)  # an unknown code fails when the file is read, not in a run
        return value


def _node_entry(value: Any) -> Any:
    # `- "demo:X"` is shorthand for `- {id: "demo:X"}`.
    return {"id": value} if isinstance(value, str) else value


class BackfillSettings(YamlModel):
    """How runs fill partitions.

    ``max_partitions_per_run`` feeds ``BackfillPolicy.multi_run`` and
    ``seamless backfill`` (default 500: ``seamless backfill`` of 10 nodes × 12
    months is one run; a UI backfill is at least one run per node, since Dagster
    splits a node × window selection into one range per value of its smaller
    dimension; a run's checks go in batches, so its memory stays bounded);
    ``retries`` and
    ``retry_delay_s`` the asset's Dagster RetryPolicy (whole runs, exponential
    backoff with jitter); ``partial_ok``, ``fetch_attempts``,
    ``fetch_backoff_ms`` and ``fetch_jitter_ratio`` the ``FillPolicy`` of the
    fills inside a run (their defaults are the SDK's); ``gx_check`` adds the
    Great Expectations check to every partition (one suite run per batch of
    a run's partitions, about 0.15 s plus the rows); ``fetch_concurrency`` how many partitions of
    one run fetch at once (fetchers are usually network-bound; 1 fills them
    one after the other); ``strict`` makes ``completeness`` an error that
    blocks (stored bars must equal the calendar's expected bars, as a strict
    read asks) instead of a warning.

    Bounds, the SDK's own limits for the same things: ``fetch_attempts`` at
    most ``sla.MAX_ATTEMPTS`` (100, as ``SLAPolicy.max_attempts``) and
    ``retries`` at most one less (a partition is tried at most as often as a
    fetch); ``fetch_backoff_ms`` at most ``sla.MAX_BACKOFF_MS`` (30 s, where
    ``FillPolicy`` caps its backoff); ``fetch_concurrency`` at most
    ``checks.MAX_WORKERS`` (256, as a provider's ``workers``);
    ``retry_delay_s`` at most :data:`MAX_SECONDS` (a week);
    ``max_partitions_per_run`` at most :data:`MAX_PARTITIONS_PER_RUN`.
    """

    max_partitions_per_run: Annotated[int, Field(ge=1, le=MAX_PARTITIONS_PER_RUN)] = 500
    partial_ok: bool = False
    retries: Annotated[int, Field(ge=0, le=MAX_ATTEMPTS - 1)] = 3
    retry_delay_s: Annotated[float, Field(ge=0, le=MAX_SECONDS)] = 10.0
    fetch_attempts: Annotated[int, Field(ge=1, le=MAX_ATTEMPTS)] = DEFAULT_MAX_ATTEMPTS
    fetch_backoff_ms: Annotated[float, Field(ge=0, le=MAX_BACKOFF_MS)] = DEFAULT_RETRY_BACKOFF_MS
    fetch_jitter_ratio: Annotated[float, Field(ge=0, le=1)] = DEFAULT_JITTER_RATIO
    gx_check: bool = True
    fetch_concurrency: Annotated[int, Field(ge=1, le=MAX_WORKERS)] = 4
    strict: bool = False


class SensorSettings(YamlModel):
    """Tick intervals of the sensors, in whole seconds (1 s to :data:`MAX_SECONDS`),
    and the tail's reach."""

    tail_s: Seconds = 60
    requests_s: Seconds = 10
    nodes_s: Seconds = 60
    reconcile_s: Seconds = 300
    tail_windows: Annotated[int, Field(ge=0, le=MAX_TAIL_WINDOWS)] = 2
    """How many of every node's newest partition windows the tail sensor keeps
    filled (at most :data:`MAX_TAIL_WINDOWS`); 0 turns the tail off."""
    tail_record_every_s: Annotated[int, Field(ge=0, le=MAX_SECONDS)] = 900
    """A tail run records a partition (materialization and checks) at most this
    often; in between it only writes the new bars. 0 records every tail run."""


class MetricsSettings(YamlModel):
    """Where Dagster runs leave their metrics for a scrape (docs/operations.md).

    ``multiprocess_dir``: every run of the code location records its backfill
    metrics into this directory (prometheus_client's multiprocess file format),
    and one long-lived ``seamless metrics serve --multiprocess-dir DIR`` serves
    them after the runs have ended; unset, runs record no metrics.
    ``flush_s``: how often a running run writes what it recorded so far.
    """

    multiprocess_dir: str | None = None
    flush_s: Annotated[float, Field(gt=0, le=3600)] = 5.0

    @field_validator("multiprocess_dir")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("an empty path")
        return value


def _epoch(value: Any) -> Any:
    # YAML reads an unquoted 2024-01-01 as a date: midnight UTC of it.
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    # An int goes through the same check as a date: epoch seconds outside the
    # range a bar's timestamp can hold would fail in every run instead of here.
    if isinstance(value, (str, datetime)) or (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        return to_epoch_seconds(value, "partition_start")
    return value  # anything else fails the int check by name


def _interval(value: Any) -> Any:
    return parse_interval(value) if isinstance(value, str) else value


class ConfigFile(YamlModel):
    """``seamless.yaml`` as written: every key, typed, before paths are resolved."""

    model_config = YamlModel.model_config | {"arbitrary_types_allowed": True}

    store: Annotated[StoreConfig, BeforeValidator(store_setting)] = Field(
        default_factory=LocalStoreConfig
    )
    """A LocalStore path, or a mapping whose ``kind`` picks the store (``config_backends``)."""
    coordinator: CoordinatorConfig | None = None
    """A PostgresCoordinator (single flight across hosts); none by default."""
    requests: str | None = None
    """The backfill request table; default: next to the store (``x.requests.sqlite``)."""
    reports: str | None = None
    """A directory for JSON conformance reports per node and partition; none by default."""
    partition_start: Annotated[int, BeforeValidator(_epoch)] = to_epoch_seconds(
        DEFAULT_PARTITION_START, "partition_start"
    )
    intervals: Annotated[
        list[Annotated[Interval, BeforeValidator(_interval)]], Field(min_length=1)
    ] = Field(default_factory=lambda: [parse_interval(i) for i in DEFAULT_INTERVALS])
    fetcher: str = "synthetic"
    nodes: list[Annotated[NodeConfig, BeforeValidator(_node_entry)]] = Field(default_factory=list)
    backfill: BackfillSettings = Field(default_factory=BackfillSettings)
    sensors: SensorSettings = Field(default_factory=SensorSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    seamless: PolicySection = Field(default_factory=PolicySection)
    """Strategy, SLA (presets), conformance and fingerprint policy (seed 004's
    ``seamless:`` section; ``seamless_sdk.policy_settings``)."""

    @field_validator("requests", "reports")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("an empty path")
        return value

    @field_validator("fetcher")
    @classmethod
    def _spec(cls, value: str) -> str:
        return str(parse_fetcher_spec(value))  # syntax only: nothing is imported yet

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, nodes: list[NodeConfig]) -> list[NodeConfig]:
        ids = [n.id for n in nodes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise InvalidRequestError("nodes", f"listed more than once: {dupes}")
        return nodes


@dataclass(frozen=True, slots=True)
class SeamlessConfig:
    """The configuration as code uses it: paths absolute, environment applied."""

    store: Path
    """The LocalStore file; with a server store, where local files default to
    (the request table without a coordinator, the CLI's log)."""
    requests: Path
    partition_start: int
    intervals: tuple[Interval, ...]
    reports: Path | None = None
    server_store: PostgresStoreConfig | QuestDBStoreConfig | None = None
    """The server store of ``store:``; None means the LocalStore at ``store``."""
    coordinator: CoordinatorConfig | None = None
    """``coordinator:``, when configured."""
    fetcher: str = "synthetic"
    nodes: tuple[NodeConfig, ...] = ()
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    sensors: SensorSettings = field(default_factory=SensorSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """``multiprocess_dir`` is absolute here (relative to the file, like every path)."""
    policy: PolicySettings = field(default_factory=PolicySettings)
    """The ``seamless:`` section, resolved: presets, SLA, fingerprint flags."""
    source: Path | None = None
    """The file this came from (``None`` when built from a mapping)."""

    @property
    def store_config(self) -> StoreConfig:
        """The store to open (``.open()``): the server store, else the LocalStore."""
        return self.server_store or LocalStoreConfig(path=str(self.store))

    @property
    def calendars(self) -> dict[str, str]:
        """Node id → calendar code, for the configured nodes."""
        return {n.id: n.calendar for n in self.nodes}

    @property
    def fetcher_spec(self) -> FetcherSpec:
        """The parsed ``fetcher`` (``seamless_sdk.fetchers.spec.build_fetcher`` builds it)."""
        return parse_fetcher_spec(self.fetcher)

    def interval(self, name: str | Interval) -> Interval:
        """A configured interval, or ``InvalidRequestError`` if it has no asset."""
        iv = parse_interval(name)
        if iv not in self.intervals:
            names = ", ".join(i.name for i in self.intervals)
            raise InvalidRequestError("interval", f"{iv.name} has no asset (configured: {names})")
        return iv


def find_config_file(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to read: ``path``, else ``$SEAMLESS_CONFIG``, else ``./seamless.yaml``.

    Raises ``InvalidRequestError`` (field ``config``) when the file it picks
    does not exist, saying where it looked.
    """
    if path is not None:
        chosen, why = Path(path), "the given path"
    elif (env := settings.config_file()) is not None:
        chosen, why = env, f"${settings.CONFIG_ENV}"
    else:
        chosen = Path.cwd() / CONFIG_NAME
        if not chosen.is_file():
            raise InvalidRequestError(
                "config",
                f"no {CONFIG_NAME} in the current directory ({Path.cwd()}) and "
                f"{settings.CONFIG_ENV} is not set: run from the directory that holds it "
                f"or set {settings.CONFIG_ENV}=/path/to/{CONFIG_NAME}",
            )
        return chosen.resolve()
    if not chosen.is_file():
        raise InvalidRequestError("config", f"{chosen} ({why}) is not a file")
    return chosen.resolve()


def optional_config_file() -> Path | None:
    """The config file if there is one (``$SEAMLESS_CONFIG`` or ``./seamless.yaml``).

    A ``SEAMLESS_CONFIG`` that names no file is still an error: a typo must
    not silently mean "no configuration".
    """
    if settings.config_file() is None and not (Path.cwd() / CONFIG_NAME).is_file():
        return None
    return find_config_file()


def load_config(path: str | os.PathLike[str] | None = None) -> SeamlessConfig:
    """Read and validate the config file (see :func:`find_config_file`)."""
    source = find_config_file(path)
    raw = read_yaml_mapping(source, "config")
    return parse_config(raw, base_dir=source.parent, source=source)


def parse_config(
    raw: Any, *, base_dir: Path | None = None, source: Path | None = None
) -> SeamlessConfig:
    """A SeamlessConfig from the parsed YAML mapping (``SEAMLESS_STORE`` applied).

    Relative paths are relative to ``base_dir`` (default: the current directory).
    """
    if not isinstance(raw, dict):
        raise InvalidRequestError(
            "config", f"the top level must be a mapping, not {type(raw).__name__}"
        )
    file = validate(ConfigFile, raw, where=str(source) if source else "")
    base = base_dir or Path.cwd()
    # SEAMLESS_STORE (a path) overrides ``store`` of any kind with a LocalStore.
    override = settings.store_override()
    local = isinstance(file.store, LocalStoreConfig)
    store = _path(override or (file.store.path if local else DEFAULT_STORE), base)  # type: ignore[union-attr]
    server = None if override or local else with_coordinator(file.store, file.coordinator)
    spec = parse_fetcher_spec(file.fetcher)
    if spec.kind == "file":
        spec = spec.with_argument(str(_path(spec.argument, base)))
    return SeamlessConfig(
        store=store,
        requests=_path(file.requests, base) if file.requests else requests_path_for(store),
        reports=_path(file.reports, base) if file.reports else None,
        server_store=server,  # type: ignore[arg-type]
        coordinator=file.coordinator,
        partition_start=file.partition_start,
        intervals=tuple(dict.fromkeys(file.intervals)),
        fetcher=str(spec),
        nodes=tuple(file.nodes),
        backfill=file.backfill,
        sensors=file.sensors,
        metrics=_metrics(file.metrics, base),
        policy=parse_policy_settings(file.seamless, source=source),
        source=source,
    )


def _metrics(metrics: MetricsSettings, base: Path) -> MetricsSettings:
    if metrics.multiprocess_dir is None:
        return metrics
    folder = str(_path(metrics.multiprocess_dir, base))
    return metrics.model_copy(update={"multiprocess_dir": folder})


def _path(value: str | os.PathLike[str], base: Path) -> Path:
    path = Path(os.path.expanduser(os.fspath(value)))
    return path if path.is_absolute() else (base / path).resolve()
