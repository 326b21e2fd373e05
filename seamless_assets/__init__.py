"""The Seamless Dagster code location: bar assets, checks, sensors and jobs.

``seamless_assets.definitions`` is what Dagster loads; this package also
exports what other code calls:

- ``build_definitions(config)`` / ``load_config(path)``: the code location
  from a configuration;
- ``run_backfill(node_ids, interval, start, end, progress=...)``: materialize
  partitions without the UI;
- ``report_coverage(instance, node_id, interval, window, store=...)`` and
  ``coverage_reporter(instance, store)``: make in-process fills visible in
  Dagster as runless materializations.

The SDK side (``DagsterBackfiller``, ``register_nodes``) is in
``seamless_sdk.backfill.dagster``.
"""

from seamless_assets.backfill import BackfillProgress, BackfillSummary, run_backfill
from seamless_assets.config import SeamlessConfig, load_config, parse_config
from seamless_assets.coverage import coverage_reporter, find_drift, report_coverage
from seamless_assets.location import build_definitions

__all__ = [
    "BackfillProgress",
    "BackfillSummary",
    "SeamlessConfig",
    "build_definitions",
    "coverage_reporter",
    "find_drift",
    "load_config",
    "parse_config",
    "report_coverage",
    "run_backfill",
]
