"""Conformance modes and rule settings per dataset kind and node, from YAML.

The shipped defaults are ``schemas/modes.yaml`` (its comments explain every
key). ``SEAMLESS_CONFORMANCE_CONFIG`` names a file laid over them: switching
a node to ``canary``, pinning a schema version or turning a rule off is a
config change, not a code change. The file is re-read when its modification
time or size changes, so a long-running provider picks up a switch too.

:func:`policy_for` answers "how is ``(dataset, node)`` conformed?" with a
:class:`Policy`; ``conform_bars`` asks it on every call (a dictionary hit
once the answer is known) and records the result in the report.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast, get_args

from seamless_sdk import settings
from seamless_sdk.conformance.spec.modes_file import FILE_FIELD, Dedup, Mode, Severity, parse_modes
from seamless_sdk.conformance.spec.registry import schemas_dir
from seamless_sdk.conformance.spec.rules import QUALITY_RULES, RULE_PARAMS, STATISTICAL_RULES
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.yaml_files import read_yaml_mapping

ENV_VAR = settings.CONFORMANCE_CONFIG_ENV
"""Environment variable naming a YAML file laid over the shipped modes."""

MODES: tuple[str, ...] = get_args(Mode)
DEDUP_POLICIES: tuple[str, ...] = get_args(Dedup)
SEVERITIES: tuple[str, ...] = get_args(Severity)
DEFAULT_SOURCE_PRIORITY: tuple[str, ...] = ("cache", "storage", "backfill", "live")
"""DESIGN's source order, best first: the ``source_priority`` policy's default."""
ALL_RULES: tuple[str, ...] = (*QUALITY_RULES, *STATISTICAL_RULES)
"""Every quality rule: the structural ones (always ``block``), then the statistical ones."""

_FIELD = FILE_FIELD


@dataclass(frozen=True, slots=True)
class RuleSetting:
    """A rule's severity and parameters."""

    severity: Severity
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """How one ``(dataset, node)`` is conformed (see ``schemas/modes.yaml``)."""

    dataset: str
    node_id: str | None
    mode: Mode = "strict"
    schema_version: str = "latest"
    dedup: Dedup = "rollup"
    out_of_order_window_bars: float = 2.0
    source_priority: tuple[str, ...] = DEFAULT_SOURCE_PRIORITY
    rules: Mapping[str, RuleSetting] = field(default_factory=dict)
    matched: tuple[str, ...] = ()
    """The config entries that applied, most general first (``defaults``, ``nodes.demo:*``)."""

    @property
    def blocking(self) -> bool:
        """Whether violations block (``strict``)."""
        return self.mode == "strict"

    def severity(self, rule: str) -> Severity:
        """A rule's severity: structural rules are always ``block``, a statistical
        rule without settings is ``off``."""
        setting = self.rules.get(rule)
        if setting is not None:
            return setting.severity
        return "off" if rule in STATISTICAL_RULES else "block"

    def with_overrides(
        self,
        *,
        mode: str | None = None,
        dedup: str | None = None,
        schema_version: str | int | None = None,
        out_of_order_window_bars: float | None = None,
        source_priority: Sequence[str] | None = None,
    ) -> Policy:
        """A copy with explicit (keyword) choices; bad values raise ``InvalidRequestError``."""
        changes: dict[str, Any] = {}
        if mode is not None:
            changes["mode"] = _choice("mode", mode, MODES)
        if dedup is not None:
            changes["dedup"] = _choice("dedup", dedup, DEDUP_POLICIES)
        if schema_version is not None:
            changes["schema_version"] = str(schema_version)
        if out_of_order_window_bars is not None:
            changes["out_of_order_window_bars"] = _non_negative(
                "out_of_order_window", out_of_order_window_bars
            )
        if source_priority is not None:
            changes["source_priority"] = _names("source_priority", source_priority)
        if not changes:
            return self
        return replace(self, matched=(*self.matched, "arguments"), **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for reports and Dagster metadata."""
        return {
            "mode": self.mode,
            "schema_version": self.schema_version,
            "dedup": self.dedup,
            "out_of_order_window_bars": self.out_of_order_window_bars,
            "source_priority": list(self.source_priority),
            "rules": {
                name: {"severity": s.severity, **dict(s.params)} for name, s in self.rules.items()
            },
            "matched": list(self.matched),
        }


class ConformanceConfig:
    """A parsed modes file (the shipped one with any override laid over it)."""

    def __init__(self, data: Mapping[str, Any], sources: Sequence[str] = ()) -> None:
        self.sources = tuple(sources)
        parsed = parse_modes(data, " + ".join(self.sources) or "<config>")
        self.data: Mapping[str, Any] = data
        self._defaults = parsed.defaults.settings()
        self._datasets = {k: v.settings() for k, v in parsed.datasets.items()}
        self._nodes = {k: v.settings() for k, v in parsed.nodes.items()}
        self._cache: dict[tuple[str, str | None], Policy] = {}
        self._lock = threading.Lock()
        # Build the defaults once so a bad file fails when loaded, not on first use.
        self.policy_for("", None)

    def with_overlay(self, data: Mapping[str, Any], label: str = "<overlay>") -> ConformanceConfig:
        """A new config with ``data`` laid over this one (as an override file would be)."""
        return ConformanceConfig(_overlay(self.data, data), (*self.sources, label))

    def policy_for(self, dataset: str, node_id: str | None = None) -> Policy:
        """The policy of ``dataset`` for ``node_id`` (None: the dataset's own)."""
        key = (dataset, node_id)
        found = self._cache.get(key)
        if found is not None:
            return found
        entries: list[tuple[str, Mapping[str, Any]]] = [("defaults", self._defaults)]
        if dataset in self._datasets:
            entries.append((f"datasets.{dataset}", self._datasets[dataset]))
        if node_id is not None:
            patterns = [
                p for p in self._nodes if _is_pattern(p) and fnmatch.fnmatchcase(node_id, p)
            ]
            entries += [(f"nodes.{p}", self._nodes[p]) for p in patterns]
            if node_id in self._nodes:
                entries.append((f"nodes.{node_id}", self._nodes[node_id]))
        policy = _build(dataset, node_id, entries)
        with self._lock:
            if len(self._cache) > 10_000:  # node ids are unbounded; keep memory so
                self._cache.clear()
            self._cache[key] = policy
        return policy


def _is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")


def _build(
    dataset: str, node_id: str | None, entries: list[tuple[str, Mapping[str, Any]]]
) -> Policy:
    merged: dict[str, Any] = {}
    rules: dict[str, dict[str, Any]] = {}
    for _, entry in entries:
        for key, value in entry.items():
            if key == "rules":
                for name, setting in value.items():
                    rules.setdefault(name, {}).update(setting)
            else:
                merged[key] = value
    settings: dict[str, RuleSetting] = {}
    for name in STATISTICAL_RULES:
        raw = dict(rules.get(name, {}))
        severity = cast(Severity, raw.pop("severity", "warn"))
        missing = [p for p in RULE_PARAMS[name] if p not in raw]
        if missing:
            raise InvalidRequestError(_FIELD, f"rules.{name}: no value for {missing}")
        settings[name] = RuleSetting(severity, raw)
    return Policy(
        dataset=dataset,
        node_id=node_id,
        mode=cast(Mode, merged.get("mode", "strict")),
        schema_version=str(merged.get("schema_version", "latest")),
        dedup=cast(Dedup, merged.get("dedup", "rollup")),
        out_of_order_window_bars=float(merged.get("out_of_order_window_bars", 2)),
        source_priority=tuple(merged.get("source_priority", DEFAULT_SOURCE_PRIORITY)),
        rules=settings,
        matched=tuple(name for name, _ in entries),
    )


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise InvalidRequestError(name, f"{value!r} is not one of {list(allowed)}")
    return str(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidRequestError(name, f"{value!r} is not a number >= 0")
    return float(value)


def _names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidRequestError(name, f"{value!r} is not a list of names")
    if not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError(name, f"{value!r} holds something other than names")
    if len(set(value)) != len(value):
        raise InvalidRequestError(name, f"{value!r} names a source twice")
    return tuple(value)


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` laid over ``base``: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = value
    return out


def default_config_file() -> Any:
    """The shipped ``modes.yaml`` (package data)."""
    return schemas_dir() / "modes.yaml"


def load_config(override: str | Path | None = None) -> ConformanceConfig:
    """The shipped modes with ``override`` (a YAML file path) laid over them."""
    data = read_yaml_mapping(default_config_file(), _FIELD, label="modes.yaml")
    sources = ["modes.yaml"]
    if override is not None:
        path = Path(override)
        data = _overlay(data, read_yaml_mapping(path, _FIELD))
        sources.append(str(path))
    return ConformanceConfig(data, sources)


_CURRENT: dict[tuple[str | None, int, int], ConformanceConfig] = {}
_CURRENT_LOCK = threading.Lock()


def current_config() -> ConformanceConfig:
    """The config in force: shipped modes plus ``$SEAMLESS_CONFORMANCE_CONFIG``.

    Cached per (path, modification time, size), so an edited file is picked
    up on the next call. A path that does not exist raises: a typo must not
    silently mean "strict everywhere".
    """
    path = settings.conformance_config_file()
    stamp = (None, 0, 0)
    if path is not None:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise InvalidRequestError(_FIELD, f"{ENV_VAR}={path}: {exc.strerror}") from None
        stamp = (path, st.st_mtime_ns, st.st_size)
    found = _CURRENT.get(stamp)
    if found is None:
        found = load_config(path)
        with _CURRENT_LOCK:
            _CURRENT.clear()  # only the config in force is worth keeping
            _CURRENT[stamp] = found
    return found


def policy_for(
    dataset: str, node_id: str | None = None, config: ConformanceConfig | None = None
) -> Policy:
    """The policy of ``(dataset, node_id)`` under ``config`` (default: :func:`current_config`)."""
    return (config or current_config()).policy_for(dataset, node_id)
