"""The conformance pipeline: messy fetched frames in, stored bar frames out.

``conform_bars`` is the entry point (``conform_trades`` rolls ticks up into
bars through the same stages); ``ConformanceReport`` says what it saw and
did; ``BarFlag`` (alias ``Flag``) names the per-row flag bits.

Governance: ``SchemaRegistry`` (``default_registry()``) holds the versioned
pandera schemas of every dataset kind as files in ``schemas/``; the modes
config (``schemas/modes.yaml``, overridden by ``$SEAMLESS_CONFORMANCE_CONFIG``)
says per dataset and node whether violations block (``strict``) or are only
reported (``canary``), how duplicates are resolved and how severe each
quality rule is. ``OHLCVBars`` is the stored frame as a typed pandera model.

Great Expectations lives in ``seamless_assets.checks.expectations`` and is
imported only there (it takes seconds to import).
"""

from seamless_sdk.conformance.engine.anomalies import STATISTICAL_RULES
from seamless_sdk.conformance.engine.expected import check_expected
from seamless_sdk.conformance.engine.lineage import LINEAGE_COLUMNS, add_lineage
from seamless_sdk.conformance.engine.pipeline import (
    ConformanceResult,
    DatasetKind,
    conform,
    conform_bars,
    empty_bar_frame,
)
from seamless_sdk.conformance.engine.quality import QUALITY_RULES
from seamless_sdk.conformance.engine.report import MAX_FAILURE_CASES, ConformanceReport
from seamless_sdk.conformance.engine.report_io import read_report, write_report
from seamless_sdk.conformance.engine.trades import (
    TRADES_SCHEMA_NAME,
    TRADES_SCHEMA_VERSION,
    conform_trades,
)
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
from seamless_sdk.conformance.spec.schema import (
    INPUT_SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STORED_SCHEMA,
    OHLCVBars,
    validate_stored,
)

__all__ = [
    "ALL_RULES",
    "ENV_VAR",
    "INPUT_SCHEMA",
    "LINEAGE_COLUMNS",
    "MAX_FAILURE_CASES",
    "QUALITY_RULES",
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
