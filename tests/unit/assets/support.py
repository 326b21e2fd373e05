"""What the asset tests share: quiet in-process runs, a one-interval config on
the synthetic fetcher, and one tick of the tail sensor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from seamless_assets import build_definitions, parse_config
from seamless_assets.resources import SeamlessResource
from seamless_assets.sensors.tail import SENSOR_NAME
from seamless_sdk.config import SeamlessConfig

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
"""Run config that keeps an in-process run's console logger to errors."""


def synthetic_config(
    tmp_path: Path,
    interval: str = "1h",
    *,
    partition_start: str = "2024-01-01",
    gx_check: bool = False,
    sensors: dict[str, Any] | None = None,
) -> SeamlessConfig:
    """A code location of one ``interval`` on ``synthetic:3`` with a store under
    ``tmp_path``, no retries, and ``sensors`` when given."""
    return parse_config(
        {
            "store": str(tmp_path / "bars.sqlite"),
            "partition_start": partition_start,
            "intervals": [interval],
            "fetcher": "synthetic:3",
            "backfill": {"gx_check": gx_check, "retries": 0},
            **({"sensors": sensors} if sensors is not None else {}),
        }
    )


def tail_tick(
    config: SeamlessConfig, instance: dg.DagsterInstance, defs: dg.Definitions | None = None
) -> list[dg.RunRequest]:
    """One tick of the tail sensor on ``instance`` (what the daemon evaluates)."""
    defs = defs if defs is not None else build_definitions(config)
    resources = {"seamless": SeamlessResource.from_config(config)}
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, sensor_name=SENSOR_NAME
    ) as context:
        result = defs.resolve_sensor_def(SENSOR_NAME)(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or [])
