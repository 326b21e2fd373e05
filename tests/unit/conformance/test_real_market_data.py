"""Real market data shipped inside PyPI packages, read as files without importing them.

* ``arch`` ships the S&P 500 daily bars 1999-2018: a clean source, so it must
  pass untouched (no flag, no rule, not a bar missing against XNYS).
* ``pmdarima`` ships Microsoft daily bars 1986-2017 with two real gaps
  (1998-10-29 and 1999-11-16 are XNYS sessions with no row), and Black
  Monday, the one day whose move is abnormal even for a crash.

Install them with ``pip install --no-deps arch pmdarima`` (only their data
files are read); the tests skip with that hint when they are missing.
"""

from __future__ import annotations

import tarfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pandas as pd
import pytest

from seamless_assets.checks.expectations import run_suite
from seamless_sdk.calendars import calendar_for
from seamless_sdk.conformance import BarFlag, check_expected, conform_bars, flag_names

DAY = 86_400
COLUMNS = {"Date": "ts", "Open": "open", "High": "high", "Low": "low", "Close": "close"}


def package_file(name: str, path: str) -> Path:
    try:
        dist = distribution(name)
    except PackageNotFoundError:
        pytest.skip(f"{name} (test data) is not installed: pip install --no-deps {name}")
    located = Path(str(dist.locate_file(path)))
    if not located.exists():
        pytest.skip(f"{name} {dist.version} does not ship {path}")
    return located


def window(frame: pd.DataFrame) -> tuple[int, int]:
    first, last = frame["ts"].iloc[0], frame["ts"].iloc[-1]
    return int(first.timestamp()), int(last.timestamp()) + DAY


def sp500() -> pd.DataFrame:
    frame = pd.read_csv(package_file("arch", "arch/data/sp500/sp500.csv.gz"))
    frame = frame.rename(columns={**COLUMNS, "Volume": "volume"})
    frame["ts"] = pd.to_datetime(frame["ts"], format="%m/%d/%Y")
    return frame


def msft() -> pd.DataFrame:
    path = package_file("pmdarima", "pmdarima/datasets/data/msft.tar.gz")
    with tarfile.open(path) as archive:
        member = archive.extractfile("msft.csv")
        assert member is not None
        frame = pd.read_csv(member)
    frame = frame.rename(columns={**COLUMNS, "Volume": "volume"})
    frame["ts"] = pd.to_datetime(frame["ts"], format="%Y-%m-%d")
    return frame


def test_sp500_passes_untouched() -> None:
    """5,031 sessions in, 5,031 bars out, no flag, no rule, exactly XNYS's sessions."""
    source = sp500()
    start, end = window(source)
    result = conform_bars(source, "1d", start, end)
    report = result.report
    assert report.ok and report.violations == 0 and not result.rejected
    assert report.rows_in == report.rows_out == 5_031
    assert not any(report.flag_counts.values()) and not any(report.rule_violations.values())
    assert report.stages["schema"]["columns_dropped"] == ["Adj Close"]
    assert report.stages["schema"]["coerced"] == ["volume"]
    ok, details = check_expected(calendar_for("XNYS"), "1d", start, end, result.frame["ts"])
    assert ok, details
    expected_close = source["close"].to_numpy()
    assert (result.frame["close"].to_numpy() == expected_close).all()
    assert run_suite(result.frame).success


def test_msft_reports_its_two_missing_sessions_and_black_monday() -> None:
    """The calendar check names the two real gaps; the jump rule names 1987-10-19 only."""
    source = msft()
    start, end = window(source)
    result = conform_bars(source, "1d", start, end)
    report = result.report
    assert report.ok and report.rows_out == len(source) == 7_983
    ok, details = check_expected(calendar_for("XNYS"), "1d", start, end, result.frame["ts"])
    assert not ok
    missing = [pd.Timestamp(s, unit="s").strftime("%Y-%m-%d") for s in details["missing"]]
    assert missing == ["1998-10-29", "1999-11-16"]
    assert details["unexpected"] == []
    suspect = result.frame[(result.frame["flags"] & int(BarFlag.SUSPECT)) != 0]
    assert suspect["ts"].dt.strftime("%Y-%m-%d").tolist() == ["1987-10-19"]
    assert flag_names(int(suspect["flags"].iloc[0])) == ["SUSPECT"]
    assert report.rule_violations["abnormal_jump"] == 1
    assert report.rule_violations["stale_price"] == 0
