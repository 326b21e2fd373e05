"""Settings of the change tools: canary tolerances and thresholds, the approval rule.

One YAML file, named by ``--changes-config`` or ``$SEAMLESS_CHANGES_CONFIG``
(without either, the defaults below), parsed by a strict model
(:mod:`seamless_sdk.config_model`): unknown keys, rounded numbers and
negative tolerances are ``InvalidRequestError`` naming the key path.

.. code-block:: yaml

    canary:
      shadow_dir: var/canary           # shadow stores and reports (relative: to this file)
      tolerances:                      # |shadow - main| <= abs + rel * |main| is equal
        default: {abs: 0.0, rel: 0.0}
        volume: {abs: 0.5, rel: 0.0}
      thresholds:                      # the verdict: pass only within all of them
        max_differing_bars: 0
        max_only_main_bars: 0
        max_only_shadow_bars: 0
        max_check_regressions: 0       # checks that pass on main and fail on the shadow
    schemas:
      approval: none                   # none | person (--approved-by) | token (HMAC)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from seamless_sdk import settings
from seamless_sdk.bars import VALUE_COLUMNS
from seamless_sdk.config_model import YamlModel, validate
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.yaml_files import read_yaml_mapping

# An infinite tolerance would let every difference pass; a count past any
# series' bars means no limit, which 0..2**63-1 already spans.
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
DEFAULT_SHADOW_DIR = "var/canary"
Approval = Literal["none", "person", "token"]


class Tolerance(YamlModel):
    """How far two values of one column may be apart and still be equal:
    ``|shadow - main| <= abs + rel * |main|`` (NaN equals NaN only)."""

    abs: NonNegative = 0.0
    rel: NonNegative = 0.0


class CanaryThresholds(YamlModel):
    """The most of each kind of difference a passing canary may have, summed over
    its partitions. The defaults (all 0) pass only an identical candidate."""

    max_differing_bars: Count = 0
    max_only_main_bars: Count = 0
    max_only_shadow_bars: Count = 0
    max_check_regressions: Count = 0


class CanarySettings(YamlModel):
    """``canary:`` of the changes file."""

    shadow_dir: str = DEFAULT_SHADOW_DIR
    tolerances: dict[str, Tolerance] = Field(default_factory=dict)
    thresholds: CanaryThresholds = Field(default_factory=CanaryThresholds)

    @field_validator("tolerances")
    @classmethod
    def _known_columns(cls, value: dict[str, Tolerance]) -> dict[str, Tolerance]:
        unknown = sorted(set(value) - {"default", *VALUE_COLUMNS})
        if unknown:
            raise InvalidRequestError(
                "canary.tolerances",
                f"{unknown[0]!r} is not a bar column (known: default, {', '.join(VALUE_COLUMNS)})",
            )
        return value

    def tolerance(self, column: str) -> Tolerance:
        """The column's tolerance, else ``default``, else exact."""
        return self.tolerances.get(column) or self.tolerances.get("default") or Tolerance()


class SchemaChangeSettings(YamlModel):
    """``schemas:`` of the changes file: who must approve ``seamless schemas apply``.

    ``none``: nobody; ``person``: ``--approved-by NAME``, someone other than
    the actor; ``token``: ``$SEAMLESS_APPROVAL_TOKEN`` must be the HMAC-SHA256
    of the plan's fingerprints under ``$SEAMLESS_APPROVAL_SECRET``
    (``seamless schemas approve PLAN`` prints it, for whoever holds the secret).
    """

    approval: Approval = "none"


class ChangesConfig(YamlModel):
    """The whole changes file."""

    canary: CanarySettings = Field(default_factory=CanarySettings)
    schemas: SchemaChangeSettings = Field(default_factory=SchemaChangeSettings)
    base_dir: Annotated[str, Field(exclude=True)] = ""
    """Where relative paths start (the file's directory); not a key of the file."""

    def shadow_dir(self) -> Path:
        """``canary.shadow_dir`` resolved against the file's directory."""
        path = Path(self.canary.shadow_dir).expanduser()
        return path if path.is_absolute() else Path(self.base_dir or ".") / path


def load_changes_config(path: str | Path | None = None) -> ChangesConfig:
    """The changes file ``path``, else ``$SEAMLESS_CHANGES_CONFIG``, else the defaults."""
    chosen = Path(path) if path is not None else settings.changes_config_file()
    if chosen is None:
        return ChangesConfig()
    raw = read_yaml_mapping(chosen, "changes_config")
    if "base_dir" in raw:
        raise InvalidRequestError("base_dir", f"in {chosen}: unknown key")
    data = {**raw, "base_dir": str(chosen.resolve().parent)}
    return validate(ChangesConfig, data, where=str(chosen))
