"""The code location's synthetic fetcher serves a node's sessions only."""

from __future__ import annotations

import numpy as np

from seamless_assets.resources import SeamlessResource
from seamless_assets.sessions import SessionFetcher
from seamless_sdk.bars import epoch_seconds
from seamless_sdk.calendars import calendar_for

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
