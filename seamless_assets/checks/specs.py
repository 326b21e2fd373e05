"""The asset checks every bar asset declares, one result per partition.

Dagster 1.13 lets an ``AssetCheckSpec`` carry the asset's partitions
definition (a preview feature), so results are stored and shown per
partition. The checks run inside the materialization, which already holds
the window's bars and the fill's conformance report, and the asset yields an
``AssetCheckEvaluation`` per partition (``AssetCheckResult`` cannot name a
partition, and one run may fill many), each naming the materialization it
checked (``seamless_assets.assets.targets``), without which Dagster holds the
result stale and the UI's check grid shows the partition as Missing.

``schema`` and ``quality_rules`` are blocking: a failure fails the run, so
nothing downstream uses the window. ``completeness`` only warns: a minute
without trades is covered, not bad (with ``backfill.strict`` it is an error
and blocks: the stored bars must be exactly the calendar's).
``gx_expectations`` (the same rules as a Great Expectations suite) warns too.
"""

from __future__ import annotations

import dagster as dg

SCHEMA_CHECK = "schema"
COMPLETENESS_CHECK = "completeness"
QUALITY_CHECK = "quality_rules"
GX_CHECK = "gx_expectations"
CHECK_NAMES: tuple[str, ...] = (SCHEMA_CHECK, COMPLETENESS_CHECK, QUALITY_CHECK, GX_CHECK)
BLOCKING: frozenset[str] = frozenset({SCHEMA_CHECK, QUALITY_CHECK})


def blocking_checks(*, strict: bool = False) -> frozenset[str]:
    """The checks whose failure fails the run (``strict``: completeness too)."""
    return BLOCKING | {COMPLETENESS_CHECK} if strict else BLOCKING


def bar_check_specs(
    asset_key: dg.AssetKey,
    partitions_def: dg.PartitionsDefinition,
    *,
    gx: bool = True,
    strict: bool = False,
) -> list[dg.AssetCheckSpec]:
    """The per-partition checks of a bar asset (``gx``: with the GX suite;
    ``strict``: completeness blocks)."""
    blocking = blocking_checks(strict=strict)
    descriptions = {
        SCHEMA_CHECK: "The stored bars match the versioned pandera schema ohlcv_bars "
        "and the fill's input frame passed the schema stage.",
        COMPLETENESS_CHECK: "Every bar the node's calendar expects in the covered window "
        "is stored (expected, observed, missing, coverage ratio, first gap).",
        QUALITY_CHECK: "No bar breaks a quality rule (high >= max(open, close), "
        "low <= min(open, close), volume >= 0, no NaN or inf), stored or rejected.",
        GX_CHECK: "The stored bars pass the Great Expectations suite built from the "
        "registry schema ohlcv_bars (columns, nulls, unique ascending ts, volume >= 0, "
        "high/low against open/close).",
    }
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset_key,
            description=descriptions[name],
            blocking=name in blocking,
            partitions_def=partitions_def,
        )
        for name in CHECK_NAMES
        if gx or name != GX_CHECK
    ]
