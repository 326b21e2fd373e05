"""One settings object: strategy, SLA, conformance and fingerprint policy (seed 004).

Read from the ``seamless:`` section of a YAML file, as seed 004's setup guide
shows (a strategy's own config file, or ``seamless.yaml``, where the same
section configures the code location):

.. code-block:: yaml

    seamless:
      strategy: SEAMLESS            # the reads' default strategy
      sla: seamless                 # a preset name, or SLAPolicy keys over the
                                    # strategy's preset, or {preset: name, <keys>}
      sla_presets:                  # overrides of the shipped presets, new ones too
        seamless: {sla: {total_deadline_ms: 3000}}
      conformance:
        partial_ok: false           # keep the conforming bars of a bad fetch
        strict: false               # expected bar count must match
        modes: {}                   # laid over the shipped modes.yaml (same keys)
      publish_fingerprint: true     # publish window fingerprints (metadata, data version)
      preview_fingerprint: false    # allow preview fingerprints of windows not final yet
      early_fingerprint: false      # allow a provisional fingerprint to be published

What the fingerprint flags do (:class:`FingerprintPolicy`). A window's
fingerprint is sha256 over its stored bars and coverage
(``seamless_sdk.backfill.fill.window_fingerprint``). A window is *final* when
it is closed (it ends at or before the now edge) and wholly covered: its
fingerprint cannot change any more unless someone rewrites history. A window
still open (the current month of 1m bars) or with holes gets new bars later,
so its fingerprint is provisional.

* ``publish_fingerprint`` (default true): a final window's materialization
  carries ``fingerprint`` in its metadata and as its Dagster data version.
  False: no materialization publishes a fingerprint or a data version.
* ``early_fingerprint`` (default false): also publish, as ``fingerprint`` and
  data version, the fingerprint of a window that is not final, with
  ``fingerprint_provisional: true`` beside it. Needs ``publish_fingerprint``.
* ``preview_fingerprint`` (default false): a window that is not final (and not
  published early) carries its fingerprint as ``preview_fingerprint`` in the
  metadata only, never as the data version: for debugging, not for
  reproducibility.

``PolicySettings.provider(store, fetcher)`` builds a ``SeamlessDataProvider``
with the settings' strategy, SLA, ``partial_ok`` and ``strict`` (any other
provider keyword passes through); ``provider_kwargs()`` are those keywords
for a constructor call of your own. :func:`audit_settings` writes changes of
the presets and the conformance modes in force to the audit log.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, field_validator

from seamless_sdk import audit
from seamless_sdk.config_model import YamlModel, validate
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.presets import SLAFields, SLAPresets, load_sla_presets
from seamless_sdk.sla import SLAPolicy
from seamless_sdk.strategy import Strategy
from seamless_sdk.yaml_files import read_yaml_mapping

if TYPE_CHECKING:
    from seamless_sdk.conformance.spec.modes import ConformanceConfig
    from seamless_sdk.conformance.spec.registry import SchemaRegistry
    from seamless_sdk.intervals import Interval
    from seamless_sdk.provider import SeamlessDataProvider
    from seamless_sdk.ranges import RangeSet
    from seamless_sdk.stores.base import BarStore

__all__ = [
    "SECTION",
    "FingerprintPolicy",
    "FingerprintPublication",
    "PolicySection",
    "PolicySettings",
    "audit_schemas",
    "audit_settings",
    "load_policy_settings",
    "parse_policy_settings",
    "window_is_final",
]

SECTION = "seamless"
"""The YAML section the settings are read from."""


class SLASetting(SLAFields):
    """``sla:`` as a mapping: SLAPolicy keys laid over ``preset`` (default: the
    strategy's preset)."""

    preset: str | None = None


class ConformanceSection(YamlModel):
    """``conformance:``: how fetched bars are held to their schema and rules."""

    partial_ok: bool = False
    strict: bool = False
    modes: dict[str, Any] = Field(default_factory=dict)
    """A modes overlay: the keys of ``seamless_sdk/conformance/schemas/modes.yaml``."""


def _preset_name(value: Any) -> Any:
    # `sla: seamless` is shorthand for `sla: {preset: seamless}`.
    return {"preset": value} if isinstance(value, str) else value


class PolicySection(YamlModel):
    """The ``seamless:`` section as written (every key optional, none unknown)."""

    strategy: str = Strategy.SEAMLESS.name
    sla: Annotated[SLASetting | None, BeforeValidator(_preset_name)] = None
    sla_presets: dict[str, Any] = Field(default_factory=dict)
    conformance: ConformanceSection = Field(default_factory=ConformanceSection)
    publish_fingerprint: bool = True
    preview_fingerprint: bool = False
    early_fingerprint: bool = False

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        return Strategy.parse(value).name


@dataclass(frozen=True, slots=True)
class FingerprintPublication:
    """What one materialization publishes about its window's fingerprint.

    ``fingerprint`` goes into the metadata as ``fingerprint`` and is the data
    version (``None``: neither); ``provisional`` marks an early one;
    ``preview`` is metadata only.
    """

    fingerprint: str | None = None
    provisional: bool = False
    preview: str | None = None

    def metadata(self) -> dict[str, str | bool]:
        """The metadata entries (plain values; Dagster wraps them)."""
        out: dict[str, str | bool] = {}
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
            if self.provisional:
                out["fingerprint_provisional"] = True
        if self.preview is not None:
            out["preview_fingerprint"] = self.preview
        return out


@dataclass(frozen=True, slots=True)
class FingerprintPolicy:
    """Seed 004's ``publish_fingerprint``, ``preview_fingerprint`` and
    ``early_fingerprint`` (see the module docstring for what each does)."""

    publish: bool = True
    preview: bool = False
    early: bool = False

    def __post_init__(self) -> None:
        for name in ("publish", "preview", "early"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidRequestError(f"{name}_fingerprint", "is not true or false")
        if self.early and not self.publish:
            raise InvalidRequestError(
                "early_fingerprint", "true needs publish_fingerprint: true (it publishes early)"
            )

    def publication(self, fingerprint: str, *, final: bool) -> FingerprintPublication:
        """What to publish for a window whose fingerprint is ``fingerprint``
        (empty: not computed, nothing published); ``final``: see
        :func:`window_is_final`."""
        if not fingerprint:
            return FingerprintPublication()
        if final:
            return FingerprintPublication(fingerprint if self.publish else None)
        if self.early:
            return FingerprintPublication(fingerprint, provisional=True)
        if self.preview:
            return FingerprintPublication(preview=fingerprint)
        return FingerprintPublication()


def window_is_final(
    interval: Interval, start: int, end: int, covered: RangeSet, *, now: float | None = None
) -> bool:
    """The window ``[start, end)`` is closed at ``now`` and ``covered`` (its
    coverage) holds all of it: its fingerprint will not change by itself."""
    return end <= interval.now_edge(now) and covered.covers(start, end)


@dataclass(frozen=True)
class PolicySettings:
    """Strategy, SLA, conformance and fingerprint policy, resolved and validated.

    ``sla_preset`` names the preset ``sla`` started from (``None`` when the
    section gave no preset and the strategy has none); ``presets`` are the
    presets in force (shipped plus ``sla_presets``); ``conformance_modes`` the
    modes overlay; ``source`` the file read, if any.
    """

    strategy: Strategy = Strategy.SEAMLESS
    sla: SLAPolicy = field(default_factory=lambda: SLAPolicy.from_preset(Strategy.SEAMLESS.value))
    sla_preset: str | None = Strategy.SEAMLESS.value
    presets: SLAPresets = field(default_factory=load_sla_presets)
    partial_ok: bool = False
    strict: bool = False
    conformance_modes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    fingerprints: FingerprintPolicy = field(default_factory=FingerprintPolicy)
    source: Path | None = None

    def provider_kwargs(self) -> dict[str, Any]:
        """The ``SeamlessDataProvider`` keywords these settings decide."""
        return {
            "strategy": self.strategy,
            "sla": self.sla,
            "partial_ok": self.partial_ok,
            "strict": self.strict,
        }

    def provider(self, store: BarStore, fetcher: Any = None, **kwargs: Any) -> SeamlessDataProvider:
        """A provider with these settings; ``kwargs`` are further provider keywords
        (one of the settings' own given again wins: an explicit argument is meant)."""
        from seamless_sdk.provider import SeamlessDataProvider

        return SeamlessDataProvider(store, fetcher, **{**self.provider_kwargs(), **kwargs})

    def conformance_config(self) -> ConformanceConfig:
        """The conformance modes in force: the shipped ones,
        ``$SEAMLESS_CONFORMANCE_CONFIG``, then ``conformance.modes``."""
        from seamless_sdk.conformance.spec.modes import current_config

        base = current_config()
        if not self.conformance_modes:
            return base
        label = f"{self.source or SECTION}: conformance.modes"
        return base.with_overlay(dict(self.conformance_modes), label)

    @property
    def fingerprint(self) -> str:
        """sha256 over the whole resolved settings (the presets by fingerprint)."""
        content = {
            "strategy": self.strategy.name,
            "sla": dataclasses.asdict(self.sla),
            "sla_preset": self.sla_preset,
            "presets": self.presets.fingerprints,
            "partial_ok": self.partial_ok,
            "strict": self.strict,
            "conformance_modes": dict(self.conformance_modes),
            "fingerprints": dataclasses.asdict(self.fingerprints),
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def parse_policy_settings(
    section: Mapping[str, Any] | PolicySection | None,
    *,
    source: Path | None = None,
    prefix: str = SECTION,
) -> PolicySettings:
    """Settings from a ``seamless:`` section (a mapping or an already parsed
    :class:`PolicySection`); errors name the key (``seamless.sla.max_attempts``)."""
    if section is None:
        section = PolicySection()
    elif not isinstance(section, PolicySection):
        if not isinstance(section, Mapping):
            raise InvalidRequestError(prefix, f"{section!r} is not a mapping")
        try:
            section = validate(PolicySection, dict(section))
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"{prefix}.{exc.field}", exc.problem) from None
    presets = load_sla_presets(section.sla_presets, prefix=f"{prefix}.sla_presets")
    strategy = Strategy.parse(section.strategy)
    sla, preset_name = _sla(section.sla, strategy, presets, prefix)
    fingerprints = _fingerprints(section, prefix)
    modes = section.conformance.modes
    if modes:
        _check_modes(modes, f"{prefix}.conformance.modes")
    return PolicySettings(
        strategy=strategy,
        sla=sla,
        sla_preset=preset_name,
        presets=presets,
        partial_ok=section.conformance.partial_ok,
        strict=section.conformance.strict,
        conformance_modes=MappingProxyType(dict(modes)),
        fingerprints=fingerprints,
        source=source,
    )


def load_policy_settings(path: str | os.PathLike[str]) -> PolicySettings:
    """Settings from the ``seamless:`` section of the YAML file ``path`` (a file
    without the section gives the defaults)."""
    source = Path(path)
    raw = read_yaml_mapping(source, "config")
    return parse_policy_settings(raw.get(SECTION), source=source.resolve())


def _sla(
    value: SLASetting | None, strategy: Strategy, presets: SLAPresets, prefix: str
) -> tuple[SLAPolicy, str | None]:
    where = f"{prefix}.sla"
    if value is not None and value.preset:
        name: str | None = value.preset.lower()
        base = _preset(presets, value.preset, f"{where}.preset").policy
    elif strategy.value in presets:
        name, base = strategy.value, presets[strategy.value].policy
    else:
        name, base = None, SLAPolicy()
    given = value.given() if value is not None else {}
    try:
        return dataclasses.replace(base, **given), name
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{prefix}.{exc.field}", exc.problem) from None


def _preset(presets: SLAPresets, name: str, where: str) -> Any:
    try:
        return presets[name]
    except InvalidRequestError as exc:
        raise InvalidRequestError(where, exc.problem) from None


def _fingerprints(section: PolicySection, prefix: str) -> FingerprintPolicy:
    try:
        return FingerprintPolicy(
            publish=section.publish_fingerprint,
            preview=section.preview_fingerprint,
            early=section.early_fingerprint,
        )
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{prefix}.{exc.field}", exc.problem) from None


def _check_modes(modes: Mapping[str, Any], where: str) -> None:
    # Parsed now, so a bad overlay fails when the settings load, not in a fill.
    from seamless_sdk.conformance.spec.modes import load_config

    try:
        load_config().with_overlay(dict(modes), where)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{where}.{exc.field}", exc.problem) from None


def _modes_fingerprint(config: ConformanceConfig) -> str:
    text = json.dumps(config.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def audit_settings(
    settings: PolicySettings, *, actor: str | None = None, path: Path | None = None
) -> list[audit.AuditEntry]:
    """Write to the audit log every preset and the conformance modes whose
    fingerprint changed since the last entry about them (first sight counts
    as a change from nothing); the entries written. Idempotent: loading the
    same configuration again writes nothing."""
    written = []
    where = str(settings.source) if settings.source else None
    for name, preset in sorted(settings.presets.items()):
        entry = audit.record_change(
            "sla_preset.changed",
            name,
            preset.fingerprint,
            detail={"preset": preset.to_dict(), "source": where},
            actor=actor,
            path=path,
        )
        if entry is not None:
            written.append(entry)
    modes = settings.conformance_config()
    entry = audit.record_change(
        "conformance_modes.changed",
        "modes",
        _modes_fingerprint(modes),
        detail={"sources": list(modes.sources)},
        actor=actor,
        path=path,
    )
    if entry is not None:
        written.append(entry)
    return written


def audit_schemas(
    registry: SchemaRegistry | None = None,
    *,
    actor: str | None = None,
    path: Path | None = None,
) -> list[audit.AuditEntry]:
    """Write to the audit log every registered schema version whose fingerprint
    changed (or is new) since the log last saw it, and the bundle's; the
    entries written. ``registry`` defaults to the shipped one. Idempotent like
    :func:`audit_settings`; what a schema loader or ``schemas apply`` calls."""
    if registry is None:
        from seamless_sdk.conformance.spec.registry import default_registry

        registry = default_registry()
    written = []
    for schema in registry:
        entry = audit.record_change(
            "schema.changed",
            schema.label,
            schema.fingerprint,
            detail={"dataset": schema.name, "version": schema.version},
            actor=actor,
            path=path,
        )
        if entry is not None:
            written.append(entry)
    bundle = audit.record_change(
        "schema_bundle.changed",
        "registry",
        registry.fingerprint,
        detail={"schemas": [s.label for s in registry]},
        actor=actor,
        path=path,
    )
    return [*written, bundle] if bundle is not None else written
