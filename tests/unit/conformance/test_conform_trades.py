"""conform_trades: ticks rolled up into bars by the same pipeline.

Trades differ from bars in one way that matters: identical rows are separate
trades (same price, same size, same timestamp happen all the time in futures
data), so they must add to the volume instead of being dropped.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.conformance import (
    TRADES_SCHEMA_NAME,
    BarFlag,
    conform_trades,
    validate_stored,
)
from seamless_sdk.ranges import RangeSet

T0 = 1_710_028_800
WINDOW = (T0, T0 + 300)


def trades(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "price", "size"])


def bars(rows: list[tuple[int, float, float, float, float, float, int]]) -> pd.DataFrame:
    ts = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000_000
    out = pd.DataFrame({"ts": pd.DatetimeIndex(ts.view("M8[ns]"), dtype="datetime64[ns, UTC]")})
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        out[name] = np.array([r[i] for r in rows], dtype=np.float64)
    out["flags"] = np.array([r[6] for r in rows], dtype=np.int32)
    return out


R = int(BarFlag.ROLLED_UP)


@pytest.mark.parametrize(
    ("rows", "expected", "counts"),
    [
        pytest.param(
            [(T0 + 1, 100.0, 1), (T0 + 1, 100.0, 1), (T0 + 2, 101.0, 2)],
            [(T0, 100.0, 101.0, 100.0, 101.0, 4.0, R)],
            {"duplicates": 0, "rolled_up": 1},
            id="identical_trades_both_count",
        ),
        pytest.param(
            [(T0 + 61, 99.5, 3)],
            [(T0 + 60, 99.5, 99.5, 99.5, 99.5, 3.0, 0)],
            {"rolled_up": 0},
            id="single_trade_bar",
        ),
        pytest.param(
            [(T0 + 30, 101.0, 1), (T0 + 10, 100.0, 1), (T0 + 50, 99.0, 1), (T0 + 400, 1.0, 1)],
            [(T0, 100.0, 101.0, 99.0, 99.0, 3.0, R | int(BarFlag.OUT_OF_ORDER))],
            {"rolled_up": 1, "out_of_order": 1, "dropped_outside_window": 1},
            id="out_of_order_trades_in_time_order",
        ),
        pytest.param(
            [(T0 + 0.25, 100.0, 1), (T0 + 0.75, 102.0, 1), (T0 + 0.5, 98.0, 1)],
            [(T0, 100.0, 102.0, 98.0, 102.0, 3.0, R | int(BarFlag.OUT_OF_ORDER))],
            {"rolled_up": 1, "out_of_order": 1},
            id="sub_second_float_times_order_trades",
        ),
    ],
)
def test_trades_roll_up(
    rows: list[tuple[float, float, float]],
    expected: list[tuple[int, float, float, float, float, float, int]],
    counts: dict[str, int],
) -> None:
    """Trades become bars: first/max/min/last price and summed size, in time order."""
    result = conform_trades(trades(rows), "1m", *WINDOW)
    pd.testing.assert_frame_equal(result.frame, bars(expected))
    assert result.report.ok and not result.rejected
    assert {k: getattr(result.report, k) for k in counts} == counts
    assert result.report.schema == TRADES_SCHEMA_NAME
    assert validate_stored(result.frame) == ([], [])


def test_bad_trade_rejects_its_bar() -> None:
    """A NaN price or a negative size taints the bar; other bars are kept."""
    source = trades(
        [(T0, 100.0, 1), (T0 + 5, np.nan, 1), (T0 + 60, 100.0, -2), (T0 + 120, 100.0, 1)]
    )
    result = conform_trades(source, "1m", *WINDOW)
    assert not result.report.ok
    assert result.rejected == RangeSet([(T0, T0 + 120)])
    assert result.report.rule_violations["nan_price"] == 1
    assert result.report.rule_violations["negative_volume"] == 1
    pd.testing.assert_frame_equal(
        result.frame, bars([(T0 + 120, 100.0, 100.0, 100.0, 100.0, 1.0, 0)])
    )


def test_trades_schema_errors() -> None:
    """A bar frame handed to conform_trades is missing price and size: blocking."""
    source = pd.DataFrame(
        {"ts": [T0], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1.0]}
    )
    report = conform_trades(source, "1m", *WINDOW).report
    assert not report.ok
    assert report.schema_errors == ["missing column 'price'", "missing column 'size'"]
    assert report.stages["schema"]["name"] == TRADES_SCHEMA_NAME


def test_trades_match_pandas_reference() -> None:
    """10,000 random trades against a pandas resample of the same ticks."""
    rng = np.random.default_rng(7)
    n = 10_000
    ts = T0 + np.sort(rng.random(n) * 3600).round(3)  # ms stamps: equal times happen
    price = 100 + rng.integers(-40, 40, n) / 4
    size = rng.integers(1, 10, n).astype(float)
    source = trades(list(zip(ts, price, size, strict=True)))
    result = conform_trades(source, "1m", T0, T0 + 3600)

    when = pd.to_datetime(ts, unit="s", utc=True).floor("min")
    grouped = pd.DataFrame({"bar": when, "price": price, "size": size}).groupby("bar")
    ref = pd.DataFrame(
        {
            "open": grouped["price"].first(),
            "high": grouped["price"].max(),
            "low": grouped["price"].min(),
            "close": grouped["price"].last(),
            "volume": grouped["size"].sum(),
        }
    )
    got = result.frame.set_index("ts")[["open", "high", "low", "close", "volume"]]
    pd.testing.assert_frame_equal(got, ref.rename_axis("ts").set_axis(got.index))
    assert result.report.rolled_up == (grouped.size() > 1).sum()


def _emini_ticks() -> pd.DataFrame:
    """500k real E-mini S&P trades (Sept 2013) shipped inside the mlfinpy wheel.

    Read as a file, without importing mlfinpy (installed with ``--no-deps``).
    """
    try:
        dist = distribution("mlfinpy")
    except PackageNotFoundError:
        pytest.skip("mlfinpy (test data) is not installed: pip install --no-deps mlfinpy")
    path = Path(str(dist.locate_file("mlfinpy/dataset/data/tick_data.csv")))
    frame = pd.read_csv(path).rename(columns={"DateTime": "ts", "Price": "price", "Volume": "size"})
    # Globex time stamps are Chicago wall time (the week opens Sunday 17:00).
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.tz_localize("America/Chicago")
    return frame


def test_emini_ticks_roll_up_to_real_minutes() -> None:
    """Real ticks: 305,809 rows repeat an earlier one and are still trades; 2,264 minutes."""
    ticks = _emini_ticks()
    start, end = 1_378_000_800, 1_378_252_800  # 2013-09-01 02:00 .. 2013-09-04 00:00 UTC
    result = conform_trades(ticks, "1m", start, end, flags=BarFlag.BACKFILLED, keep_optional=True)

    report = result.report
    assert report.ok and report.rows_in == 500_000 and report.duplicates == 0
    assert report.rows_out == 2_264
    assert result.frame["volume"].sum() == ticks["size"].sum()  # no trade lost
    grouped = ticks.assign(bar=ticks["ts"].dt.tz_convert("UTC").dt.floor("min")).groupby("bar")
    ref = grouped.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("size", "sum"),
    ).astype("float64")
    got = result.frame.set_index("ts")[["open", "high", "low", "close", "volume"]]
    pd.testing.assert_frame_equal(got, ref.set_axis(got.index))
    assert report.rolled_up == int((grouped.size() > 1).sum())
    # vwap, computed independently: sum(price * size) / sum(size) per minute.
    notional = ticks.assign(pv=ticks["price"] * ticks["size"]).groupby(grouped.ngroup())["pv"]
    vwap = notional.sum().to_numpy() / ref["volume"].to_numpy()
    np.testing.assert_allclose(result.frame["vwap"].to_numpy(), vwap, rtol=1e-12)
    # Real minutes of a liquid future: no jump or frozen price worth a warning.
    assert report.flag_counts["SUSPECT"] == 0
    assert validate_stored(result.frame.drop(columns=["vwap"])) == ([], [])
