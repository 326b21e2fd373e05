"""SLA presets per strategy: seed 003 section 6's matrix, shipped as YAML.

``sla_presets.yaml`` (next to this module; its comments explain every key)
holds one preset per strategy (``fail_fast``, ``partial_fill``,
``auto_backfill``, ``seamless``). :func:`load_sla_presets` reads it, lays a
user's overrides over it (the ``seamless: sla_presets:`` mapping of
``seamless.yaml``) and validates every result into an
:class:`~seamless_sdk.sla.SLAPolicy`; ``SLAPolicy.from_preset(name)`` is the
short way to get one.

Parsing is strict: an unknown key, a string where a number belongs or a
negative budget is ``InvalidRequestError`` whose field is the key path
(``sla_presets.seamless.sla.total_deadline_ms``). In an override, a key given
replaces the preset's, a key left out keeps it, and ``null`` means "no
limit" (an SLA budget of ``None``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from pydantic import Field, field_validator

from seamless_sdk.config_model import StrictModel, YamlModel, validate
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.sla import SLAPolicy
from seamless_sdk.strategy import Strategy
from seamless_sdk.yaml_files import read_yaml_mapping

__all__ = [
    "PRESETS_FILE",
    "SLAPreset",
    "SLAPresets",
    "load_sla_presets",
    "shipped_sla_presets",
]

PRESETS_FILE = "sla_presets.yaml"
"""The shipped presets, package data of ``seamless_sdk.presets``."""
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
SLA_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SLAPolicy))
"""Keys a preset's ``sla`` mapping takes: SLAPolicy's fields."""


class SLAFields(StrictModel):
    """A preset's ``sla`` mapping: SLAPolicy's fields, each optional.

    Not a YamlModel: here ``null`` is a value (no limit), not "absent"."""

    total_deadline_ms: float | None = None
    max_wait_storage_ms: float | None = None
    max_wait_backfill_ms: float | None = None
    max_wait_live_ms: float | None = None
    retry_backoff_ms: float | None = None
    max_attempts: int | None = None
    jitter_ratio: float | None = None
    max_sync_gap_bars: int | None = None

    def given(self) -> dict[str, Any]:
        """The keys the YAML set (``null`` included), and their values."""
        return {name: getattr(self, name) for name in SLA_FIELDS if name in self.model_fields_set}


class PresetEntry(YamlModel):
    """One preset as written: the strategy it is for, a description, its SLA."""

    strategy: str | None = None
    description: str | None = None
    extends: str | None = None
    sla: SLAFields = Field(default_factory=SLAFields)

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str | None) -> str | None:
        return None if value is None else Strategy.parse(value).name


class PresetsFile(YamlModel):
    """``sla_presets.yaml``: ``presets`` by name."""

    presets: dict[str, PresetEntry]


@dataclass(frozen=True, slots=True)
class SLAPreset:
    """A named, validated SLA policy, and the strategy it is meant for (if any).

    ``fields`` are the SLAPolicy keys the preset sets (the rest take
    SLAPolicy's defaults); ``fingerprint`` is sha256 over the strategy and the
    whole resolved policy, so equal presets have equal fingerprints however
    they were written.
    """

    name: str
    policy: SLAPolicy
    strategy: Strategy | None = None
    description: str = ""
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def fingerprint(self) -> str:
        """sha256 of the preset's strategy and resolved policy (canonical JSON)."""
        content = {
            "strategy": self.strategy.name if self.strategy else None,
            "sla": dataclasses.asdict(self.policy),
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The preset as plain values (for the audit log and ``seamless audit``)."""
        return {
            "name": self.name,
            "strategy": self.strategy.name if self.strategy else None,
            "description": self.description,
            "sla": dataclasses.asdict(self.policy),
            "fingerprint": self.fingerprint,
        }


class SLAPresets(Mapping[str, SLAPreset]):
    """Presets by name (case-insensitive lookup); ``for_strategy`` picks a strategy's."""

    def __init__(self, presets: Mapping[str, SLAPreset]) -> None:
        self._presets = dict(presets)

    def __getitem__(self, name: str) -> SLAPreset:
        found = self._presets.get(name.lower()) if isinstance(name, str) else None
        if found is None:
            raise InvalidRequestError(
                "sla", f"{name!r} is not an SLA preset (known: {', '.join(sorted(self))})"
            )
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._presets

    def __iter__(self) -> Iterator[str]:
        return iter(self._presets)

    def __len__(self) -> int:
        return len(self._presets)

    def for_strategy(self, strategy: Strategy | str) -> SLAPreset:
        """The preset named after ``strategy`` (``seamless`` for SEAMLESS)."""
        return self[Strategy.parse(strategy).value]

    @property
    def fingerprints(self) -> dict[str, str]:
        """Name → fingerprint of every preset."""
        return {name: p.fingerprint for name, p in self._presets.items()}


def _read_shipped() -> dict[str, Any]:
    return read_yaml_mapping(
        files(__package__).joinpath(PRESETS_FILE), "sla_presets", label=PRESETS_FILE
    )


@cache
def shipped_sla_presets() -> SLAPresets:
    """The presets shipped with the SDK, without overrides."""
    file = validate(PresetsFile, _read_shipped(), where=PRESETS_FILE)
    return _resolve(file.presets, {}, prefix="presets")


def load_sla_presets(
    overrides: Mapping[str, Any] | None = None, *, prefix: str = "sla_presets"
) -> SLAPresets:
    """The shipped presets with ``overrides`` (name → preset mapping, as in
    ``seamless.yaml``) laid over them. ``prefix`` starts every error's key path."""
    if not overrides:
        return shipped_sla_presets()
    if not isinstance(overrides, Mapping):
        raise InvalidRequestError(prefix, f"{overrides!r} is not a mapping of presets")
    try:
        parsed = validate(PresetsFile, {"presets": dict(overrides)})
    except InvalidRequestError as exc:
        # The model's top key is "presets"; the user wrote them under ``prefix``.
        rest = exc.field.removeprefix("presets")
        raise InvalidRequestError(f"{prefix}{rest}", exc.problem) from None
    shipped = validate(PresetsFile, _read_shipped(), where=PRESETS_FILE).presets
    return _resolve(shipped, parsed.presets, prefix=prefix)


def _resolve(
    base: Mapping[str, PresetEntry], top: Mapping[str, PresetEntry], *, prefix: str
) -> SLAPresets:
    for name in (*base, *top):
        if not _NAME.fullmatch(name):
            raise InvalidRequestError(
                f"{prefix}.{name}", "a preset name is lower-case letters, digits, _ and -"
            )
    done: dict[str, SLAPreset] = {}

    def build(name: str, chain: tuple[str, ...]) -> SLAPreset:
        if name in done:
            return done[name]
        where = f"{prefix}.{name}"
        if name in chain:
            raise InvalidRequestError(f"{where}.extends", f"cycle: {' -> '.join((*chain, name))}")
        entries = [e for e in (base.get(name), top.get(name)) if e is not None]
        parent_name = next((e.extends for e in reversed(entries) if e.extends), None)
        if parent_name is not None and parent_name not in base and parent_name not in top:
            raise InvalidRequestError(f"{where}.extends", f"{parent_name!r} is not a preset")
        parent = build(parent_name, (*chain, name)) if parent_name else None
        fields: dict[str, Any] = dict(parent.fields) if parent else {}
        strategy = parent.strategy.name if parent and parent.strategy else None
        description = parent.description if parent else ""
        for entry in entries:
            fields.update(entry.sla.given())
            strategy = entry.strategy or strategy
            description = entry.description if entry.description is not None else description
        try:
            policy = SLAPolicy(**fields)
        except InvalidRequestError as exc:
            # SLAPolicy names the field "sla.<key>": put the preset's path before it.
            raise InvalidRequestError(f"{where}.{exc.field}", exc.problem) from None
        preset = SLAPreset(
            name=name,
            policy=policy,
            strategy=Strategy.parse(strategy) if strategy else None,
            description=description,
            fields=MappingProxyType(fields),
        )
        done[name] = preset
        return preset

    for name in (*base, *top):
        build(name, ())
    return SLAPresets(done)
