"""Dagster's queued run coordinator, with a backfill daemon that looks every few seconds.

Dagster's backfill daemon looks for new backfills on a fixed 30 s loop
(``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS``, which no
``dagster.yaml`` key sets): a backfill launched from the UI waits up to 30 s
before its first run is even queued, longer than a year of 1m bars of a node
takes to fill. ``SeamlessRunCoordinator`` is ``QueuedRunCoordinator`` with
one more key, ``backfill_daemon_interval_seconds`` (default 2): when the
daemon builds its coordinator, before its daemon threads start, the loop
interval is set to it. Only the daemon's backfill loop reads that constant
while it runs (the asset daemon reads it once, as its default interval, when
``auto_materialize.minimum_interval_seconds`` is unset; ``dagster.yaml``
sets that key). Each loop costs one query for requested backfills.

>>> # dagster.yaml
>>> # run_coordinator:
>>> #   module: seamless_assets.run_coordinator
>>> #   class: SeamlessRunCoordinator
>>> #   config: {max_concurrent_runs: 4, backfill_daemon_interval_seconds: 2}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from dagster import Field, IntSource
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._daemon import controller
from dagster._serdes import ConfigurableClassData

from seamless_assets.run_launcher import in_daemon
from seamless_sdk.errors import InvalidRequestError

DEFAULT_BACKFILL_INTERVAL_S = 2


class SeamlessRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` plus ``backfill_daemon_interval_seconds``
    (applied when ``dagster.yaml`` configures the coordinator)."""

    backfill_daemon_interval_seconds: int = DEFAULT_BACKFILL_INTERVAL_S

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **QueuedRunCoordinator.config_type(),
            "backfill_daemon_interval_seconds": Field(
                IntSource,
                is_required=False,
                default_value=DEFAULT_BACKFILL_INTERVAL_S,
                description="Seconds between the backfill daemon's looks for new backfills "
                "(Dagster's own is a fixed 30).",
            ),
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        seconds = config_value.get("backfill_daemon_interval_seconds", DEFAULT_BACKFILL_INTERVAL_S)
        if not isinstance(seconds, int) or seconds < 1:
            raise InvalidRequestError(
                "run_coordinator.config.backfill_daemon_interval_seconds",
                f"must be a whole number of seconds, at least 1; got {seconds!r}",
            )
        rest = {k: v for k, v in config_value.items() if k != "backfill_daemon_interval_seconds"}
        coordinator = super().from_config_value(inst_data, rest)
        coordinator.backfill_daemon_interval_seconds = seconds
        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds
        return coordinator

    def register_instance(self, instance: Any) -> None:
        super().register_instance(instance)
        if in_daemon():
            # Dagster builds the run launcher at the first launch; building it
            # now lets a launcher prepare while the daemon starts
            # (WarmRunLauncher imports its preload then, not in the first run's way).
            instance.run_launcher  # noqa: B018
