"""The conformance modes file (``schemas/modes.yaml`` and any override), as typed models.

:mod:`~seamless_sdk.conformance.spec.modes` merges the shipped file with an
override and resolves policies; this module only says what a file may
contain. Every entry (``defaults``, ``datasets.<kind>``, ``nodes.<pattern>``)
is an :class:`Entry`; its ``rules`` have one model per rule, built from the
rules table (``spec/rules.py``), so a parameter is typed as the rule reads it.
Types are strict (``min_run: 2.5`` is an error, never 2), unknown keys and
rules are errors, and every error is ``InvalidRequestError`` whose field is
the dotted key path (``defaults.rules.stale_price.min_run``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, create_model, field_validator, model_validator

from seamless_sdk.config_model import StrictModel, YamlModel, validate
from seamless_sdk.conformance.spec.rules import QUALITY_RULES, RULE_PARAMS, STATISTICAL_RULES
from seamless_sdk.errors import InvalidRequestError

Mode = Literal["strict", "canary"]
Dedup = Literal["rollup", "source_priority", "ingest_time"]
Severity = Literal["block", "warn", "off"]

FILE_FIELD = "conformance_config"
"""The field of errors about the file as a whole (missing, not YAML, not a mapping)."""


class StructuralRule(YamlModel):
    """A structural rule (high/low, volume, NaN, inf): only ``severity: block`` is allowed."""

    severity: str = "block"

    @model_validator(mode="before")
    @classmethod
    def _always_block(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and (
            set(data) - {"severity"} or data.get("severity", "block") != "block"
        ):
            raise InvalidRequestError(
                "rules",
                "structural rules are always 'block' and take no parameters: "
                "the store cannot hold a bar that breaks them",
            )
        return data


def _statistical_rule(name: str, params: Mapping[str, type]) -> type[StrictModel]:
    """The model of one statistical rule: a severity and its positive parameters."""
    fields: dict[str, Any] = {"severity": (Severity | None, None)}
    for param, kind in params.items():
        fields[param] = (Annotated[kind, Field(gt=0)] | None, None)  # type: ignore[valid-type]
    return create_model(f"{name}_rule", __base__=YamlModel, **fields)


RULE_MODELS: dict[str, type[StrictModel]] = {
    **{name: StructuralRule for name in QUALITY_RULES},
    **{name: _statistical_rule(name, RULE_PARAMS[name]) for name in STATISTICAL_RULES},
}
"""Every rule a modes file may set, by name."""

Rules = create_model(  # type: ignore[call-overload]
    "Rules",
    __base__=YamlModel,
    **{name: (model | None, None) for name, model in RULE_MODELS.items()},
)
"""``rules:`` of an entry: one optional key per known rule."""


def _version_text(value: Any) -> Any:
    # `schema_version: 2` and `"2"` name the same version; a bool is neither.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Entry(YamlModel):
    """One entry: ``defaults``, ``datasets.<kind>`` or ``nodes.<pattern>``."""

    mode: Mode | None = None
    schema_version: Annotated[str, BeforeValidator(_version_text)] | None = None
    dedup: Dedup | None = None
    out_of_order_window_bars: Annotated[float, Field(ge=0)] | None = None
    source_priority: list[str] | None = None
    rules: Rules | None = None  # type: ignore[valid-type]

    @field_validator("source_priority")
    @classmethod
    def _names(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not all(value):
            raise InvalidRequestError("source_priority", f"{value!r} holds an empty name")
        if len(set(value)) != len(value):
            raise InvalidRequestError("source_priority", f"{value!r} names a source twice")
        return value

    def settings(self) -> dict[str, Any]:
        """The keys this entry sets (``rules`` as ``{rule: {severity?, params...}}``)."""
        out = self.model_dump(exclude_none=True, exclude={"rules"})
        if "source_priority" in out:
            out["source_priority"] = tuple(out["source_priority"])
        rules = self.rules.model_dump(exclude_none=True) if self.rules is not None else {}
        # Structural rules carry no setting (always block): only statistical ones are kept.
        out["rules"] = {name: rules[name] for name in STATISTICAL_RULES if name in rules}
        return out


class ModesFile(YamlModel):
    """A whole modes file (or the merge of several)."""

    defaults: Entry = Field(default_factory=Entry)
    datasets: dict[str, Entry] = Field(default_factory=dict)
    nodes: dict[str, Entry] = Field(default_factory=dict)

    @field_validator("datasets", "nodes", mode="before")
    @classmethod
    def _empty_entries(cls, value: Any) -> Any:
        # `ohlcv_bars: {}` and `ohlcv_bars:` (null) are both an entry that sets nothing.
        if isinstance(value, Mapping):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


def parse_modes(data: Any, where: str) -> ModesFile:
    """``data`` (a parsed modes file) validated; ``where`` names the file(s) in errors."""
    if not isinstance(data, Mapping):
        raise InvalidRequestError(FILE_FIELD, f"{where}: not a YAML mapping")
    return validate(ModesFile, dict(data), where=where)
