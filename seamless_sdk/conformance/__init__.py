"""The conformance pipeline: messy fetched frames in, stored bar frames out.

``conform_bars`` is the entry point (``conform_trades`` rolls ticks up into
bars through the same stages); ``ConformanceReport`` says what it saw and
did; ``BarFlag`` (alias ``Flag``) names the per-row flag bits; ``OHLCVBars``
is the versioned pandera model of the stored frame.
"""

from seamless_sdk.conformance.flags import BarFlag, Flag, count_flags, flag_names
from seamless_sdk.conformance.pipeline import (
    ConformanceResult,
    DatasetKind,
    conform,
    conform_bars,
    empty_bar_frame,
)
from seamless_sdk.conformance.quality import QUALITY_RULES
from seamless_sdk.conformance.report import MAX_FAILURE_CASES, ConformanceReport
from seamless_sdk.conformance.schema import (
    INPUT_SCHEMA,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    STORED_SCHEMA,
    OHLCVBars,
    validate_stored,
)
from seamless_sdk.conformance.trades import (
    TRADES_SCHEMA_NAME,
    TRADES_SCHEMA_VERSION,
    conform_trades,
)

__all__ = [
    "INPUT_SCHEMA",
    "MAX_FAILURE_CASES",
    "QUALITY_RULES",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "STORED_SCHEMA",
    "TRADES_SCHEMA_NAME",
    "TRADES_SCHEMA_VERSION",
    "BarFlag",
    "ConformanceReport",
    "ConformanceResult",
    "DatasetKind",
    "Flag",
    "OHLCVBars",
    "conform",
    "conform_bars",
    "conform_trades",
    "count_flags",
    "empty_bar_frame",
    "flag_names",
    "validate_stored",
]
