"""The conformance pipeline: messy fetched frames in, stored bar frames out.

``conform_bars`` is the entry point (``conform_trades`` rolls ticks up into
bars through the same stages); ``ConformanceReport`` says what it saw and
did; ``BarFlag`` (alias ``Flag``) names the per-row flag bits.

The package has two halves, as pandera splits its ``api`` from its
``backends``: ``spec/`` declares what a conformed frame is (the versioned
pandera schemas of every dataset kind in ``SchemaRegistry``, their
compatibility rules, the modes config, the flags and ``QUALITY_TABLE``, the
one table of quality rules) and ``engine/`` runs it (schema stage, time,
dedup and roll-up, quality, report).

Governance: ``SchemaRegistry`` (``default_registry()``) holds the schemas as
files in ``schemas/``; the modes config (``schemas/modes.yaml``, overridden by
``$SEAMLESS_CONFORMANCE_CONFIG``) says per dataset and node whether violations
block (``strict``) or are only reported (``canary``), how duplicates are
resolved and how severe each statistical rule is. ``OHLCVBars`` is the stored
frame as a typed pandera model.

Names are imported on first use (PEP 562): importing this package, or reading
stored bars, loads no pandera (about 0.5 s); the first conform does. The
Great Expectations suite belongs to the Dagster checks
(``seamless_assets.checks.expectations``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seamless_sdk._lazy import lazy_exports

_ENGINE = "seamless_sdk.conformance.engine"
_SPEC = "seamless_sdk.conformance.spec"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "ALL_RULES": f"{_SPEC}.modes",
    "ENV_VAR": f"{_SPEC}.modes",
    "INPUT_SCHEMA": f"{_SPEC}.schema",
    "LINEAGE_COLUMNS": f"{_ENGINE}.lineage",
    "MAX_FAILURE_CASES": f"{_ENGINE}.report",
    "QUALITY_RULES": f"{_SPEC}.rules",
    "QUALITY_TABLE": f"{_SPEC}.rules",
    "SCHEMA_NAME": f"{_SPEC}.schema",
    "SCHEMA_VERSION": f"{_SPEC}.schema",
    "STATISTICAL_RULES": f"{_SPEC}.rules",
    "STORED_SCHEMA": f"{_SPEC}.schema",
    "TRADES_SCHEMA_NAME": f"{_ENGINE}.trades",
    "TRADES_SCHEMA_VERSION": f"{_ENGINE}.trades",
    "BarFlag": f"{_SPEC}.flags",
    "ConformanceConfig": f"{_SPEC}.modes",
    "ConformanceReport": f"{_ENGINE}.report",
    "ConformanceResult": f"{_ENGINE}.pipeline",
    "DatasetKind": f"{_ENGINE}.pipeline",
    "Flag": f"{_SPEC}.flags",
    "OHLCVBars": f"{_SPEC}.schema",
    "Policy": f"{_SPEC}.modes",
    "QualityRule": f"{_SPEC}.rules",
    "RegisteredSchema": f"{_SPEC}.registry",
    "SchemaRegistry": f"{_SPEC}.registry",
    "add_lineage": f"{_ENGINE}.lineage",
    "check_expected": f"{_ENGINE}.expected",
    "conform": f"{_ENGINE}.pipeline",
    "conform_bars": f"{_ENGINE}.pipeline",
    "conform_trades": f"{_ENGINE}.trades",
    "count_flags": f"{_SPEC}.flags",
    "default_registry": f"{_SPEC}.registry",
    "empty_bar_frame": "seamless_sdk.bars",
    "flag_names": f"{_SPEC}.flags",
    "load_config": f"{_SPEC}.modes",
    "policy_for": f"{_SPEC}.modes",
    "read_report": f"{_ENGINE}.report_io",
    "schemas_check": f"{_SPEC}.registry",
    "validate_stored": f"{_ENGINE}.validate",
    "write_report": f"{_ENGINE}.report_io",
}

__all__ = [
    "ALL_RULES",
    "ENV_VAR",
    "INPUT_SCHEMA",
    "LINEAGE_COLUMNS",
    "MAX_FAILURE_CASES",
    "QUALITY_RULES",
    "QUALITY_TABLE",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "STATISTICAL_RULES",
    "STORED_SCHEMA",
    "TRADES_SCHEMA_NAME",
    "TRADES_SCHEMA_VERSION",
    "BarFlag",
    "ConformanceConfig",
    "ConformanceReport",
    "ConformanceResult",
    "DatasetKind",
    "Flag",
    "OHLCVBars",
    "Policy",
    "QualityRule",
    "RegisteredSchema",
    "SchemaRegistry",
    "add_lineage",
    "check_expected",
    "conform",
    "conform_bars",
    "conform_trades",
    "count_flags",
    "default_registry",
    "empty_bar_frame",
    "flag_names",
    "load_config",
    "policy_for",
    "read_report",
    "schemas_check",
    "validate_stored",
    "write_report",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from seamless_sdk.bars import empty_bar_frame
    from seamless_sdk.conformance.engine.expected import check_expected
    from seamless_sdk.conformance.engine.lineage import LINEAGE_COLUMNS, add_lineage
    from seamless_sdk.conformance.engine.pipeline import (
        ConformanceResult,
        DatasetKind,
        conform,
        conform_bars,
    )
    from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES, ConformanceReport
    from seamless_sdk.conformance.engine.report_io import read_report, write_report
    from seamless_sdk.conformance.engine.trades import (
        TRADES_SCHEMA_NAME,
        TRADES_SCHEMA_VERSION,
        conform_trades,
    )
    from seamless_sdk.conformance.engine.validate import validate_stored
    from seamless_sdk.conformance.spec.flags import BarFlag, Flag, count_flags, flag_names
    from seamless_sdk.conformance.spec.modes import (
        ALL_RULES,
        ENV_VAR,
        ConformanceConfig,
        Policy,
        load_config,
        policy_for,
    )
    from seamless_sdk.conformance.spec.registry import (
        RegisteredSchema,
        SchemaRegistry,
        default_registry,
        schemas_check,
    )
    from seamless_sdk.conformance.spec.rules import (
        QUALITY_RULES,
        QUALITY_TABLE,
        STATISTICAL_RULES,
        QualityRule,
    )
    from seamless_sdk.conformance.spec.schema import (
        INPUT_SCHEMA,
        SCHEMA_NAME,
        SCHEMA_VERSION,
        STORED_SCHEMA,
        OHLCVBars,
    )
