"""One partitioned job per bar asset: what sensors, the SDK and the CLI launch."""

from __future__ import annotations

import dagster as dg

from seamless_sdk.backfill.dagster import job_name
from seamless_sdk.intervals import Interval


def build_bars_job(
    interval: Interval, asset: dg.AssetsDefinition
) -> dg.UnresolvedAssetJobDefinition:
    """``bars_<interval>_job``: the asset and its checks (partitioned like the asset,
    which Dagster infers from the selection)."""
    return dg.define_asset_job(
        job_name(interval),
        selection=dg.AssetSelection.assets(asset),
        description=f"Fill {interval.name} bar windows of one node or a range of partitions.",
    )
