"""The code location's configuration: one YAML file, read once when Dagster loads it.

The file is ``seamless.yaml`` at the repository root unless ``SEAMLESS_CONFIG``
names another; ``SEAMLESS_STORE`` overrides the store path in it. Relative
paths in the file are relative to the file itself, so the Dagster webserver,
daemon and run processes agree whatever their working directory. A bad value
raises ``InvalidRequestError`` naming the field (``nodes[2].id: ...``).

.. code-block:: yaml

    store: var/seamless.sqlite       # the LocalStore file
    partition_start: "2024-01-01"    # first partition window
    intervals: [1m, 1h, 1d]          # one asset per interval: bars_1m, bars_1h, bars_1d
    fetcher: synthetic               # synthetic[:seed] | file:<path> | package.module:factory
    nodes:
      - id: "demo:BTCUSDT"           # 24/7 unless a calendar is given
      - {id: "demo:SPY", calendar: XNYS}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from seamless_sdk.backfill.dagster import requests_path_for
from seamless_sdk.calendars import calendar_for
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.request import to_epoch_seconds, validate_node_id

CONFIG_ENV = "SEAMLESS_CONFIG"
STORE_ENV = "SEAMLESS_STORE"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "seamless.yaml"
DEFAULT_CALENDAR = "24/7"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A configured node and its trading calendar code."""

    id: str
    calendar: str = DEFAULT_CALENDAR


@dataclass(frozen=True, slots=True)
class BackfillSettings:
    """How runs fill partitions.

    ``max_partitions_per_run`` feeds ``BackfillPolicy.multi_run`` (a UI
    backfill of 120 partitions is 10 runs of 12); ``retries`` and
    ``retry_delay_s`` the asset's RetryPolicy (exponential backoff with
    jitter); ``fetch_attempts`` the in-run fetch retries of the fill;
    ``gx_check`` adds the Great Expectations check to every partition (about
    0.15 s each: turn it off for bulk history loads).
    """

    max_partitions_per_run: int = 12
    partial_ok: bool = False
    retries: int = 3
    retry_delay_s: float = 10.0
    fetch_attempts: int = 3
    gx_check: bool = True


@dataclass(frozen=True, slots=True)
class SensorSettings:
    """Tick intervals of the sensors, in seconds."""

    tail_s: int = 60
    requests_s: int = 10
    nodes_s: int = 60
    reconcile_s: int = 300
    tail_windows: int = 2
    """How many of every node's newest partition windows the tail sensor keeps
    filled; 0 turns the tail off."""


@dataclass(frozen=True, slots=True)
class SeamlessConfig:
    """Everything the code location is built from."""

    store: Path
    requests: Path
    partition_start: int
    intervals: tuple[Interval, ...]
    reports: Path | None = None
    fetcher: str = "synthetic"
    nodes: tuple[NodeConfig, ...] = ()
    backfill: BackfillSettings = field(default_factory=BackfillSettings)
    sensors: SensorSettings = field(default_factory=SensorSettings)
    source: Path | None = None

    @property
    def calendars(self) -> dict[str, str]:
        """Node id → calendar code, for the configured nodes."""
        return {n.id: n.calendar for n in self.nodes}

    def interval(self, name: str | Interval) -> Interval:
        """A configured interval, or ``InvalidRequestError`` if it has no asset."""
        iv = parse_interval(name)
        if iv not in self.intervals:
            names = ", ".join(i.name for i in self.intervals)
            raise InvalidRequestError("interval", f"{iv.name} has no asset (configured: {names})")
        return iv


def load_config(path: str | os.PathLike[str] | None = None) -> SeamlessConfig:
    """Read the YAML file (``path``, else ``$SEAMLESS_CONFIG``, else ``seamless.yaml``)."""
    source = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).resolve()
    try:
        raw = yaml.safe_load(source.read_text()) or {}
    except OSError as exc:
        raise InvalidRequestError("config", f"cannot read {source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise InvalidRequestError("config", f"{source} is not valid YAML: {exc}") from None
    return parse_config(raw, base_dir=source.parent, source=source)


def parse_config(
    raw: Any, *, base_dir: Path | None = None, source: Path | None = None
) -> SeamlessConfig:
    """Build a SeamlessConfig from the parsed YAML mapping (environment applied)."""
    if not isinstance(raw, dict):
        raise InvalidRequestError(
            "config", f"top level must be a mapping, not {type(raw).__name__}"
        )
    unknown = set(raw) - {
        "store",
        "requests",
        "partition_start",
        "intervals",
        "fetcher",
        "nodes",
        "backfill",
        "sensors",
        "reports",
    }
    if unknown:
        raise InvalidRequestError("config", f"unknown keys {sorted(unknown)}")
    base = base_dir or REPO_ROOT
    store = _path(os.environ.get(STORE_ENV) or raw.get("store") or "var/seamless.sqlite", base)
    requests = _path(raw["requests"], base) if raw.get("requests") else requests_path_for(store)
    # Conformance reports as JSON per node and partition; `reports: null` turns them off.
    reports = _path(raw["reports"], base) if raw.get("reports") else None
    intervals = tuple(
        dict.fromkeys(
            _interval(i, v) for i, v in enumerate(_list(raw, "intervals", ["1m", "1h", "1d"]))
        )
    )
    if not intervals:
        raise InvalidRequestError("intervals", "at least one interval is required")
    start = to_epoch_seconds(raw.get("partition_start", "2024-01-01"), "partition_start")
    fetcher = raw.get("fetcher", "synthetic")
    if not isinstance(fetcher, str) or not fetcher.strip():
        raise InvalidRequestError("fetcher", f"{fetcher!r} is not a fetcher spec string")
    fetcher = fetcher.strip()
    if fetcher.startswith("file:"):
        fetcher = f"file:{_path(fetcher[5:], base)}"
    nodes = tuple(_node(i, n) for i, n in enumerate(_list(raw, "nodes", [])))
    dupes = sorted({n.id for n in nodes if [m.id for m in nodes].count(n.id) > 1})
    if dupes:
        raise InvalidRequestError("nodes", f"listed more than once: {dupes}")
    return SeamlessConfig(
        store=store,
        requests=requests,
        reports=reports,
        partition_start=start,
        intervals=intervals,
        fetcher=fetcher,
        nodes=nodes,
        backfill=_section(BackfillSettings, raw.get("backfill"), "backfill"),
        sensors=_section(SensorSettings, raw.get("sensors"), "sensors"),
        source=source,
    )


def partition_start_date(config: SeamlessConfig) -> datetime:
    """The configured partition start as an aware UTC datetime."""
    return datetime.fromtimestamp(config.partition_start, UTC)


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidRequestError("store", f"{value!r} is not a path")
    path = Path(os.path.expanduser(os.fspath(value)))
    return path if path.is_absolute() else (base / path).resolve()


def _list(raw: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
    value = raw.get(key, default)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequestError(key, f"must be a list, not {type(value).__name__}")
    return value


def _interval(i: int, value: Any) -> Interval:
    try:
        return parse_interval(str(value))
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"intervals[{i}]", exc.problem) from None


def _node(i: int, value: Any) -> NodeConfig:
    if isinstance(value, str):
        value = {"id": value}
    if not isinstance(value, dict) or set(value) - {"id", "calendar"}:
        raise InvalidRequestError(f"nodes[{i}]", f"{value!r} is not {{id, calendar}}")
    try:
        node = validate_node_id(value.get("id"))
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"nodes[{i}].id", exc.problem) from None
    calendar = value.get("calendar") or DEFAULT_CALENDAR
    try:
        calendar_for(calendar)  # unknown codes fail here, not in the first run
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"nodes[{i}].calendar", exc.problem) from None
    return NodeConfig(node, calendar)


def _section(cls: type[Any], value: Any, name: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise InvalidRequestError(name, f"must be a mapping, not {type(value).__name__}")
    fields = cls.__dataclass_fields__
    unknown = set(value) - set(fields)
    if unknown:
        raise InvalidRequestError(name, f"unknown keys {sorted(unknown)}")
    out = {}
    for key, item in value.items():
        kind = type(getattr(cls(), key))
        if kind is bool and not isinstance(item, bool):
            raise InvalidRequestError(f"{name}.{key}", f"{item!r} is not true or false")
        if kind in (int, float) and (
            isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0
        ):
            raise InvalidRequestError(f"{name}.{key}", f"{item!r} is not a non-negative number")
        out[key] = kind(item)
    settings = cls(**out)
    if getattr(settings, "max_partitions_per_run", 1) < 1:
        raise InvalidRequestError(f"{name}.max_partitions_per_run", "must be at least 1")
    return settings
