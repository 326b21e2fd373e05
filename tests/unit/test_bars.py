"""The bar vocabulary: one epoch-second conversion and one empty frame for every layer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import (
    BAR_COLUMNS,
    STORED_COLUMNS,
    UTC_NS,
    empty_bar_frame,
    epoch_seconds,
    ts_from_seconds,
)
from seamless_sdk.conformance import conform_bars

T0 = 1_704_067_200
SECONDS = [T0 - 60, T0, T0 + 3600]


@pytest.mark.parametrize(
    "column",
    [
        pytest.param(np.array(SECONDS), id="int seconds"),
        pytest.param(pd.Series(pd.to_datetime(SECONDS, unit="s", utc=True)), id="utc"),
        pytest.param(pd.to_datetime(SECONDS, unit="s"), id="naive means utc"),
        pytest.param(
            pd.Series(pd.to_datetime(SECONDS, unit="s", utc=True)).dt.tz_convert("Asia/Kolkata"),
            id="another zone",
        ),
        pytest.param(pd.Series(pd.to_datetime(SECONDS, unit="s").as_unit("s")), id="unit s"),
        pytest.param(pd.Series(pd.to_datetime(SECONDS, unit="s").as_unit("ms")), id="unit ms"),
        pytest.param(pd.DatetimeIndex(pd.to_datetime(SECONDS, unit="s", utc=True)), id="index"),
    ],
)
def test_epoch_seconds_of_any_ts_column(column: object) -> None:
    out = epoch_seconds(column)
    assert out.dtype == np.int64 and out.tolist() == SECONDS


def test_epoch_seconds_floors_before_the_epoch() -> None:
    """-0.5 s is in the second that starts at -1, as bar alignment needs."""
    ts = pd.Series(pd.to_datetime([-500_000_000], unit="ns", utc=True))
    assert epoch_seconds(ts).tolist() == [-1]


def test_ts_from_seconds_round_trips() -> None:
    index = ts_from_seconds(np.array(SECONDS))
    assert index.dtype == UTC_NS and epoch_seconds(index).tolist() == SECONDS


def test_one_empty_frame_for_stores_conformance_and_fetchers() -> None:
    empty = empty_bar_frame()
    assert list(empty.columns) == list(STORED_COLUMNS) and len(empty) == 0
    assert isinstance(empty.index, pd.RangeIndex)
    assert empty["ts"].dtype == UTC_NS and empty["flags"].dtype == np.int32
    assert all(empty[c].dtype == np.float64 for c in BAR_COLUMNS[1:])
    nothing = conform_bars(pd.DataFrame(), "1m", T0, T0 + 60).frame
    pd.testing.assert_frame_equal(nothing, empty)
    pd.testing.assert_frame_equal(empty_bar_frame(flags=False), empty.drop(columns="flags"))
