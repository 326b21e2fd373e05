"""``build_definitions``: the whole code location from one configuration.

It only assembles; every piece is built by a factory from the configuration
(``seamless_assets.config``). ``seamless_assets.definitions`` calls it with
``seamless.yaml``; tests and ``run_backfill`` call it with their own.
"""

from __future__ import annotations

import dagster as dg

from seamless_assets.assets.bars import build_bars_asset
from seamless_assets.assets.tail_fill import build_tail_fill_job
from seamless_assets.config import SeamlessConfig
from seamless_assets.jobs import build_bars_job
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.nodes import build_nodes_sensor
from seamless_assets.sensors.reconcile import build_reconcile_sensor
from seamless_assets.sensors.requests import build_request_sensor
from seamless_assets.sensors.tail import build_tail_sensor


def build_definitions(config: SeamlessConfig) -> dg.Definitions:
    """Assets, checks, jobs, sensors and the ``seamless`` resource for ``config``."""
    assets = [
        build_bars_asset(iv, config.partition_start, config.backfill) for iv in config.intervals
    ]
    jobs = [build_bars_job(iv, asset) for iv, asset in zip(config.intervals, assets, strict=True)]
    tail_fills = [build_tail_fill_job(iv) for iv in config.intervals]
    s = config.sensors
    sensors = [
        build_request_sensor(
            config.intervals, config.partition_start, interval_s=s.requests_s, jobs=jobs
        ),
        build_tail_sensor(
            config.intervals,
            config.partition_start,
            interval_s=s.tail_s,
            count=s.tail_windows,
            jobs=[*jobs, *tail_fills],
        ),
        build_nodes_sensor([n.id for n in config.nodes], interval_s=s.nodes_s),
        build_reconcile_sensor(
            config.intervals,
            config.partition_start,
            interval_s=s.reconcile_s,
            partial_ok=config.backfill.partial_ok,
            jobs=jobs,
        ),
    ]
    return dg.Definitions(
        assets=assets,
        jobs=[*jobs, *tail_fills],
        sensors=sensors,
        resources={"seamless": SeamlessResource.from_config(config)},
        # One step per run: a subprocess per step would only add start-up time.
        executor=dg.in_process_executor,
    )
