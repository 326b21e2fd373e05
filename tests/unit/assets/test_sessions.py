"""The code location's synthetic fetcher serves a node's sessions only."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np

from seamless_assets import build_definitions, parse_config
from seamless_assets.resources import SeamlessResource
from seamless_sdk.backfill.dagster import register_nodes
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.calendars import calendar_for
from seamless_sdk.fetchers.sessions import SessionFetcher

WEEK = (1_704_067_200, 1_704_067_200 + 7 * 86_400)  # Mon 2024-01-01 (a NYSE holiday) + 6 days


def resource(fetcher: str) -> SeamlessResource:
    return SeamlessResource(
        store_path="unused.sqlite",
        requests_path="unused.requests.sqlite",
        fetcher=fetcher,
        gx_check=False,
        calendars={"demo:SPY": "XNYS"},
    )


def test_an_exchange_node_gets_session_bars_and_a_24_7_node_every_bar() -> None:
    fetcher = resource("synthetic:1").get_fetcher()
    assert isinstance(fetcher, SessionFetcher)
    spy = fetcher.fetch("demo:SPY", "1m", *WEEK)
    want = calendar_for("XNYS").expected_bars("1m", *WEEK)
    assert 0 < len(spy) == len(want)
    assert np.array_equal(epoch_seconds(spy["ts"]), want)
    assert len(fetcher.fetch("demo:BTC", "1m", *WEEK)) == 7 * 1440


def test_other_fetchers_are_not_filtered() -> None:
    fetcher = resource("tests.integration.dagster.fetchers:ScriptedFetcher").get_fetcher()
    assert not isinstance(fetcher, SessionFetcher)


def test_a_strict_run_fails_on_bars_outside_the_sessions(tmp_path: Path) -> None:
    """24/7 bars of an XNYS node (a fetcher that ignores calendars) fail a strict run."""
    config = parse_config(
        {
            "store": str(tmp_path / "bars.sqlite"),
            "intervals": ["1d"],
            "fetcher": "tests.integration.dagster.fetchers:ScriptedFetcher",
            "nodes": [{"id": "demo:SPY", "calendar": "XNYS"}],
            "backfill": {"gx_check": False, "retries": 0, "strict": True},
        }
    )
    job = build_definitions(config).resolve_job_def("bars_1d_job")
    with dg.DagsterInstance.ephemeral() as instance:
        register_nodes(instance, ["demo:SPY"])
        result = job.execute_in_process(
            instance=instance, partition_key="demo:SPY|2024", raise_on_error=False
        )
    assert not result.success
    (verdict,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "completeness"]
    assert not verdict.passed and verdict.severity == dg.AssetCheckSeverity.ERROR
    assert verdict.metadata["unexpected_bars"].value > 0
