"""The conformance pipeline: messy fetched frames in, stored bar frames out.

``conform_bars`` is the entry point; ``ConformanceReport`` says what it saw
and did; ``BarFlag`` names the per-row flag bits; ``OHLCVBars`` is the
versioned pandera model of the stored frame.
"""

from seamless_sdk.conformance.flags import BarFlag, count_flags, flag_names
from seamless_sdk.conformance.pipeline import ConformanceResult, conform_bars, empty_bar_frame
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

__all__ = [
    "INPUT_SCHEMA",
    "MAX_FAILURE_CASES",
    "QUALITY_RULES",
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "STORED_SCHEMA",
    "BarFlag",
    "ConformanceReport",
    "ConformanceResult",
    "OHLCVBars",
    "conform_bars",
    "count_flags",
    "empty_bar_frame",
    "flag_names",
    "validate_stored",
]
