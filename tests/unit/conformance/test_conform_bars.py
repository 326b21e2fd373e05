"""conform_bars on awkward real-world frames: one table row per kind of mess.

Every case states the exact stored frame it must produce and the report
counts that describe what happened, so a change in behaviour shows up as a
diff in this table rather than a vague failure elsewhere.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.bars import STORED_COLUMNS
from seamless_sdk.conformance import (
    BarFlag,
    ConformanceResult,
    conform_bars,
    load_config,
    validate_stored,
)
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet

T0 = 1_710_028_800  # 2024-03-10 00:00 UTC, the day New York springs forward
M1 = parse_interval("1m")
H1 = parse_interval("1h")
WINDOW = (T0, T0 + 3600)

R = BarFlag.ROLLED_UP
D = BarFlag.DEDUPED
OOO = BarFlag.OUT_OF_ORDER


def t(minute: int, second: float = 0) -> Any:
    """Epoch seconds of minute ``minute`` (plus ``second``) after T0."""
    value = T0 + 60 * minute + second
    return int(value) if float(value).is_integer() else value


def frame(
    ts: Any, rows: list[tuple[float, float, float, float, float]], **extra: Any
) -> pd.DataFrame:
    """A fetcher-style frame: ``ts`` as given, then OHLCV, then any extra columns."""
    values = np.array(rows, dtype=np.float64).reshape(-1, 5)
    out = pd.DataFrame({"ts": ts})
    for i, name in enumerate(("open", "high", "low", "close", "volume")):
        out[name] = values[:, i]
    for name, column in extra.items():
        out[name] = column
    return out


def stored(rows: list[tuple[int, float, float, float, float, float, int]]) -> pd.DataFrame:
    """The exact stored bar frame for ``(ts, o, h, l, c, v, flags)`` rows."""
    ts = np.array([r[0] for r in rows], dtype=np.int64) * 1_000_000_000
    out = pd.DataFrame({"ts": pd.DatetimeIndex(ts.view("M8[ns]"), dtype="datetime64[ns, UTC]")})
    for i, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        out[name] = np.array([r[i] for r in rows], dtype=np.float64)
    out["flags"] = np.array([int(r[6]) for r in rows], dtype=np.int32)
    return out


def quiet(n: int, *, spike_at: int | None = None, stale_from: int | None = None) -> list[Any]:
    """``n`` minute bars of a quiet market: closes wander by a few cents around 100.

    ``spike_at`` puts a bad tick there (close 150, then back to normal);
    ``stale_from`` freezes every bar from there on at one traded price.
    """
    rows: list[tuple[float, float, float, float, float]] = []
    prev = 100.0
    for i in range(n):
        close = 100.0 + 0.05 * ((i * 7) % 5 - 2)
        if i == spike_at:
            close = 150.0
        if stale_from is not None and i >= stale_from:
            close = 100.0
        open_ = 100.0 if stale_from is not None and i > stale_from else prev
        high, low = max(open_, close), min(open_, close)
        if stale_from is None or i < stale_from:
            high, low = high + 0.02, low - 0.02
        rows.append((open_, high, low, close, 10.0))
        prev = close
    return rows


BAR = (10.0, 11.0, 9.0, 10.5, 100.0)
BAR2 = (10.5, 12.0, 10.0, 11.0, 50.0)
BAR3 = (11.0, 11.5, 10.5, 11.2, 0.0)


@dataclass
class Case:
    id: str
    why: str
    input: pd.DataFrame
    expected: list[tuple[int, float, float, float, float, float, int]]
    counts: dict[str, int] = field(default_factory=dict)
    interval: Any = M1
    window: tuple[int, int] = WINDOW
    flags: int = 0
    rules: dict[str, int] = field(default_factory=dict)
    rejected: list[tuple[int, int]] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


NY = "America/New_York"
SUS = BarFlag.SUSPECT
SPIKE = quiet(30, spike_at=15)
STALE = quiet(40, stale_from=5)

CASES = [
    Case(
        "clean_int_seconds",
        "the hot path: one row per bar, ascending, int epoch seconds",
        frame([t(0), t(1), t(2)], [BAR, BAR2, BAR3]),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0), (t(2), *BAR3, 0)],
    ),
    Case(
        "float_seconds_inside_bar",
        "float epoch seconds with fractions bucket to the bar that contains them",
        frame([t(0, 0.5), t(1, 59.999)], [BAR, BAR2]),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "seconds_inside_bar_align_down",
        "a row at 00:00:30 in 1m bars belongs to the 00:00 bar",
        frame([t(0, 30), t(1, 59)], [BAR, BAR2]),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "naive_datetime64_means_utc",
        "a naive datetime64 (any unit) is UTC wall time",
        frame(pd.to_datetime([t(0), t(1)], unit="s").as_unit("s"), [BAR, BAR2]),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "naive_datetime64_ms",
        "milliseconds resolution is converted, not reinterpreted",
        frame(pd.to_datetime([t(0), t(1)], unit="s").as_unit("ms"), [BAR, BAR2]),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "aware_tokyo",
        "a tz-aware column in another zone is converted to UTC",
        frame(
            pd.to_datetime([t(0), t(1)], unit="s", utc=True).tz_convert("Asia/Tokyo"), [BAR, BAR2]
        ),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "iso_strings_mixed_offsets",
        "ISO strings with different offsets (and a naive one meaning UTC) in one column",
        frame(
            [
                "2024-03-10T09:00:00+09:00",
                "2024-03-10T00:01:00Z",
                "2024-03-09T19:02:30-05:00",
                "2024-03-10 00:03:00",
            ],
            [BAR, BAR2, BAR3, BAR],
        ),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0), (t(2), *BAR3, 0), (t(3), *BAR, 0)],
    ),
    Case(
        "python_datetimes_mixed_zones",
        "object column of datetimes in different zones, as a hand-written fetcher returns",
        frame(
            pd.Series(
                [
                    datetime(2024, 3, 10, 9, 0, tzinfo=timezone(timedelta(hours=9))),
                    datetime(2024, 3, 10, 0, 1, tzinfo=UTC),
                ],
                dtype=object,
            ),
            [BAR, BAR2],
        ),
        [(t(0), *BAR, 0), (t(1), *BAR2, 0)],
    ),
    Case(
        "dst_spring_forward_new_york",
        "New York local hours 00,01,03,04 on 2024-03-10 are four consecutive UTC hours",
        frame(
            pd.DatetimeIndex(
                ["2024-03-10 00:00", "2024-03-10 01:00", "2024-03-10 03:00", "2024-03-10 04:00"]
            ).tz_localize(NY),
            [BAR, BAR2, BAR3, BAR],
        ),
        [
            (T0 + 5 * 3600, *BAR, 0),
            (T0 + 6 * 3600, *BAR2, 0),
            (T0 + 7 * 3600, *BAR3, 0),
            (T0 + 8 * 3600, *BAR, 0),
        ],
        interval=H1,
        window=(T0, T0 + 86400),
    ),
    Case(
        "dst_fall_back_new_york",
        "01:30 New York happens twice on 2024-11-03; the offsets make them distinct UTC bars",
        frame(["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00"], [BAR, BAR2]),
        [(1_730_610_000, *BAR, 0), (1_730_613_600, *BAR2, 0)],
        interval=H1,
        window=(1_730_592_000, 1_730_592_000 + 86400),
    ),
    Case(
        "exact_duplicates",
        "a source that repeats rows (paging overlap): keep one, count and flag the rest",
        frame([t(0), t(1), t(1), t(1)], [BAR, BAR2, BAR2, BAR2]),
        [(t(0), *BAR, 0), (t(1), *BAR2, D)],
        {"duplicates": 2},
    ),
    Case(
        "several_samples_per_bar",
        "three different samples in one minute roll up: first/max/min/last/sum",
        frame([t(0, 0), t(0, 20), t(0, 40), t(1)], [BAR, BAR2, BAR3, BAR]),
        [(t(0), 10.0, 12.0, 9.0, 11.2, 150.0, R), (t(1), *BAR, 0)],
        {"rolled_up": 1},
    ),
    Case(
        "samples_same_ts_keep_input_order",
        "two different rows with the same ts: input order decides open and close",
        frame([t(0), t(0)], [BAR2, BAR]),
        [(t(0), 10.5, 12.0, 9.0, 10.5, 150.0, R)],
        {"rolled_up": 1},
    ),
    Case(
        "samples_newest_first",
        "samples of one bar sent newest first: open is still the earliest in time",
        frame([t(0, 40), t(0, 0)], [BAR2, BAR]),
        [(t(0), 10.0, 12.0, 9.0, 11.0, 150.0, R | OOO)],
        {"rolled_up": 1, "out_of_order": 1},
    ),
    Case(
        "duplicate_and_sample_in_one_bar",
        "a repeated row is dropped before the roll-up, so volume is not double counted",
        frame([t(0), t(0), t(0, 30)], [BAR, BAR, BAR2]),
        [(t(0), 10.0, 12.0, 9.0, 11.0, 150.0, R | D)],
        {"duplicates": 1, "rolled_up": 1},
    ),
    Case(
        "same_ts_differs_only_in_volume",
        "rows equal except for volume are two samples, not duplicates",
        frame([t(0), t(0)], [BAR, (*BAR[:4], 5.0)]),
        [(t(0), *BAR[:4], 105.0, R)],
        {"rolled_up": 1},
    ),
    Case(
        "rows_outside_window",
        "a fetcher that returns more than asked: the bar before start and the bar at end go",
        frame([t(-1), t(0), t(59, 59), t(60)], [BAR, BAR2, BAR3, BAR]),
        [(t(0), *BAR2, 0), (t(59), *BAR3, 0)],
        {"dropped_outside_window": 2},
    ),
    Case(
        "out_of_order_rows",
        "rows sorted descending: output ascending, rows that came late are flagged",
        frame([t(2), t(0), t(1)], [BAR3, BAR, BAR2]),
        [(t(0), *BAR, OOO), (t(1), *BAR2, OOO), (t(2), *BAR3, 0)],
        {"out_of_order": 2},
    ),
    Case(
        "late_row_beyond_window",
        "a row 4 minutes behind the newest (window 2 bars) is absorbed, flagged and counted late",
        frame([t(0), t(5), t(1)], [BAR, BAR2, BAR3]),
        [(t(0), *BAR, 0), (t(1), *BAR3, OOO), (t(5), *BAR2, 0)],
        {"out_of_order": 1, "late": 1},
    ),
    Case(
        "late_row_inside_wider_window",
        "the same row with a 5-minute window is only out of order, not late",
        frame([t(0), t(5), t(1)], [BAR, BAR2, BAR3]),
        [(t(0), *BAR, 0), (t(1), *BAR3, OOO), (t(5), *BAR2, 0)],
        {"out_of_order": 1},
        kwargs={"out_of_order_window": 300},
    ),
    Case(
        "price_spike_flagged_suspect",
        "a bad tick (close 150 in a market wandering by cents) is kept but flagged SUSPECT; "
        "the bar that falls back is the return to normal, not a second jump",
        frame([t(i) for i in range(30)], SPIKE),
        [(t(i), *SPIKE[i], SUS if i == 15 else 0) for i in range(30)],
        rules={"abnormal_jump": 1},
    ),
    Case(
        "price_spike_blocked_when_configured",
        "with abnormal_jump at severity block the spike bar is removed like a broken bar",
        frame([t(i) for i in range(30)], SPIKE),
        [(t(i), *SPIKE[i], 0) for i in range(30) if i != 15],
        {"rejected_bars": 1},
        rules={"abnormal_jump": 1},
        rejected=[(t(15), t(16))],
        kwargs={"config": "block_jumps"},
    ),
    Case(
        "stale_prices_flagged",
        "35 traded minutes in a row at the very same close: a frozen feed, flagged not removed",
        frame([t(i) for i in range(40)], STALE),
        [(t(i), *STALE[i], SUS if i >= 5 else 0) for i in range(40)],
        rules={"stale_price": 35},
    ),
    Case(
        "unchanged_close_without_volume_is_fine",
        "40 minutes at one price with no volume is a closed market, not a stale feed",
        frame([t(i) for i in range(40)], [(100.0, 100.0, 100.0, 100.0, 0.0)] * 40),
        [(t(i), 100.0, 100.0, 100.0, 100.0, 0.0, 0) for i in range(40)],
    ),
    Case(
        "zero_volume_is_fine",
        "a bar with no volume (no trades but a quote) is valid",
        frame([t(0)], [(10.0, 10.0, 10.0, 10.0, 0.0)]),
        [(t(0), 10.0, 10.0, 10.0, 10.0, 0.0, 0)],
    ),
    Case(
        "caller_flags_every_row",
        "the caller's flags (a backfill) are set on every row, with the pipeline's own",
        frame([t(1), t(0), t(0)], [BAR2, BAR, BAR]),
        [(t(0), *BAR, BarFlag.BACKFILLED | OOO | D), (t(1), *BAR2, BarFlag.BACKFILLED)],
        {"duplicates": 1, "out_of_order": 2},
        flags=BarFlag.BACKFILLED,
    ),
    Case(
        "extra_columns_dropped",
        "symbol/vwap/trade_count columns from a vendor are dropped",
        frame([t(0)], [BAR], symbol=["X"], vwap=[10.2], trade_count=[7]),
        [(t(0), *BAR, 0)],
    ),
    Case(
        "int_and_numeric_string_values_coerced",
        "integer prices and numeric strings coerce to float64",
        frame([t(0), t(1)], [BAR, BAR2]).assign(
            open=[10, 10], volume=pd.Series(["100", "50.0"], dtype=object)
        ),
        [(t(0), *BAR, 0), (t(1), 10.0, *BAR2[1:], 0)],
    ),
    Case(
        "ts_as_index",
        "a DatetimeIndex named ts is as good as a ts column",
        frame(pd.to_datetime([t(0)], unit="s", utc=True), [BAR]).set_index("ts"),
        [(t(0), *BAR, 0)],
    ),
    Case(
        "empty_frame_with_columns",
        "a holiday: the source returns no rows",
        frame(pd.Series([], dtype="int64"), []),
        [],
    ),
    Case(
        "bare_empty_dataframe",
        "pd.DataFrame() is how many fetchers say 'nothing here'",
        pd.DataFrame(),
        [],
    ),
    Case(
        "negative_volume_rejected",
        "negative volume cannot happen: the bar is removed and its window rejected",
        frame([t(0), t(1), t(2)], [BAR, (*BAR[:4], -1.0), BAR3]),
        [(t(0), *BAR, 0), (t(2), *BAR3, 0)],
        {"rejected_bars": 1},
        rules={"negative_volume": 1},
        rejected=[(t(1), t(2))],
    ),
    Case(
        "high_below_open_rejected",
        "high < open means the bar's fields are mixed up",
        frame([t(0), t(1)], [(10.0, 9.5, 9.0, 9.2, 1.0), BAR2]),
        [(t(1), *BAR2, 0)],
        {"rejected_bars": 1},
        rules={"high_lt_max_open_close": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "low_above_close_rejected",
        "low > close",
        frame([t(0)], [(10.0, 11.0, 10.2, 10.1, 1.0)]),
        [],
        {"rejected_bars": 1},
        rules={"low_gt_min_open_close": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "nan_price_rejected",
        "a NaN close is counted as nan_price only, not as a broken high/low",
        frame([t(0), t(1)], [BAR, (10.0, 11.0, 9.0, np.nan, 1.0)]),
        [(t(0), *BAR, 0)],
        {"rejected_bars": 1},
        rules={"nan_price": 1},
        rejected=[(t(1), t(2))],
    ),
    Case(
        "nan_volume_rejected",
        "NaN volume",
        frame([t(0)], [(*BAR[:4], np.nan)]),
        [],
        {"rejected_bars": 1},
        rules={"nan_volume": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "inf_price_rejected",
        "an infinite high passes high >= open but is still garbage",
        frame([t(0)], [(10.0, np.inf, 9.0, 10.0, 1.0)]),
        [],
        {"rejected_bars": 1},
        rules={"inf_value": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "nan_sample_taints_its_bar",
        "quality runs on rolled-up bars: one NaN sample rejects the whole bar",
        frame([t(0), t(0, 30), t(1)], [BAR, (np.nan, 11.0, 9.0, 10.0, 1.0), BAR2]),
        [(t(1), *BAR2, 0)],
        {"rejected_bars": 1, "rolled_up": 1},
        rules={"nan_price": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "negative_volume_sample_not_summed_away",
        "a bad sample cannot hide in a bar: 5 + (-1) would look like a fine volume of 4",
        frame([t(0), t(0, 30), t(1)], [BAR, (*BAR2[:4], -1.0), BAR2]),
        [(t(1), *BAR2, 0)],
        {"rejected_bars": 1, "rolled_up": 1},
        rules={"negative_volume": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "broken_sample_high_hidden_by_max",
        "a sample with high < open is garbage even if another sample's high covers it",
        frame([t(0), t(0, 30)], [(10.0, 9.5, 9.0, 9.2, 1.0), (9.2, 12.0, 9.0, 11.0, 1.0)]),
        [],
        {"rejected_bars": 1, "rolled_up": 1},
        rules={"high_lt_max_open_close": 1},
        rejected=[(t(0), t(1))],
    ),
    Case(
        "adjacent_rejections_merge",
        "rejected windows are a RangeSet: neighbours merge",
        frame([t(0), t(1), t(2)], [(*BAR[:4], -1.0), (*BAR[:4], -2.0), BAR]),
        [(t(2), *BAR, 0)],
        {"rejected_bars": 2},
        rules={"negative_volume": 2},
        rejected=[(t(0), t(2))],
    ),
    Case(
        "one_bar_breaks_two_rules",
        "a bar is counted once per rule it breaks but rejected once",
        frame([t(0)], [(10.0, 9.0, 10.5, 10.0, -1.0)]),
        [],
        {"rejected_bars": 1},
        rules={"high_lt_max_open_close": 1, "low_gt_min_open_close": 1, "negative_volume": 1},
        rejected=[(t(0), t(1))],
    ),
]

ZERO_COUNTS = {
    "dropped_outside_window": 0,
    "duplicates": 0,
    "rolled_up": 0,
    "out_of_order": 0,
    "late": 0,
    "superseded": 0,
    "rejected_bars": 0,
    "gaps": 0,
}

CONFIGS = {
    "block_jumps": load_config().with_overlay(
        {"defaults": {"rules": {"abnormal_jump": {"severity": "block"}}}}
    )
}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conform_bars_cases(case: Case) -> None:
    """Each awkward input yields exactly the expected stored frame and counts."""
    kwargs = dict(case.kwargs)
    if "config" in kwargs:
        kwargs["config"] = CONFIGS[kwargs["config"]]
    result = conform_bars(case.input, case.interval, *case.window, flags=case.flags, **kwargs)

    pd.testing.assert_frame_equal(result.frame, stored(case.expected))
    assert isinstance(result.frame.index, pd.RangeIndex)
    report = result.report
    expected_counts = {**ZERO_COUNTS, **case.counts}
    assert {k: getattr(report, k) for k in expected_counts} == expected_counts
    assert report.rows_in == len(case.input)
    assert report.rows_out == len(case.expected)
    assert report.rule_violations == {**dict.fromkeys(report.rule_violations, 0), **case.rules}
    assert report.ok is (not case.rejected)
    assert report.violations == report.rejected_bars
    assert result.rejected == RangeSet(case.rejected)
    assert report.schema_errors == []
    # flag_counts describes the output rows exactly
    for flag in BarFlag:
        expected_n = sum(1 for row in case.expected if row[6] & flag)
        assert report.flag_counts[str(flag.name)] == expected_n, flag.name
    json.dumps(report.to_dict(), allow_nan=False)
    assert validate_stored(result.frame) == ([], [])


def test_extra_columns_are_listed_in_the_schema_stage() -> None:
    """The report says which vendor columns were dropped and which were coerced."""
    source = frame([t(0)], [BAR], symbol=["X"]).assign(open=[10])
    stage = conform_bars(source, M1, *WINDOW).report.stages["schema"]
    assert stage["columns_dropped"] == ["symbol"]
    assert stage["coerced"] == ["open"]
    # The pipeline checks input against the latest registered version by default.
    assert (stage["name"], stage["version"]) == ("ohlcv_bars", "2")


def test_input_frame_is_not_modified() -> None:
    """Conforming must not sort, coerce or re-index the caller's frame in place."""
    source = frame([t(2), t(0), t(0)], [BAR3, BAR, BAR]).assign(open=[11, 10, 10])
    before = source.copy(deep=True)
    conform_bars(source, M1, *WINDOW)
    pd.testing.assert_frame_equal(source, before)


def test_output_does_not_share_memory_with_input() -> None:
    """Writing into the conformed frame never changes the fetcher's frame."""
    source = frame([t(0), t(1)], [BAR, BAR2])
    out = conform_bars(source, M1, *WINDOW).frame
    out.loc[0, "open"] = -1.0
    assert source.loc[0, "open"] == BAR[0]


def test_frame_is_built_once_from_the_bars_it_reports() -> None:
    """The frame of a clean result is made from its bars on first use, then kept;
    ``rows`` and ``stored_bars`` answer without it and agree with it."""
    result = conform_bars(frame([t(0), t(1), t(2)], [BAR, BAR2, BAR3]), M1, *WINDOW)
    assert result.bars is not None
    assert result.rows == 3
    assert result.stored_bars() is result.bars
    built = result.frame
    assert result.frame is built
    assert list(built.columns) == list(STORED_COLUMNS)
    assert validate_stored(built) == ([], [])
    assert np.shares_memory(built["close"].to_numpy(), result.bars.wide)


def test_a_result_without_frame_or_bars_is_refused() -> None:
    report = conform_bars(frame([t(0)], [BAR]), M1, *WINDOW).report
    with pytest.raises(TypeError, match="frame or its bars"):
        ConformanceResult(None, report, RangeSet())


def test_a_result_is_immutable_and_takes_its_fields_by_name() -> None:
    clean = conform_bars(frame([t(0)], [BAR]), M1, *WINDOW)
    result = ConformanceResult(frame=clean.frame, report=clean.report, rejected=RangeSet())
    assert result.frame is clean.frame and result.ok and result.bars is None
    with pytest.raises(AttributeError, match="immutable"):
        result.report = clean.report  # type: ignore[misc]
    assert "rows=1" in repr(result)


def test_a_result_pickles_and_copies() -> None:
    result = conform_bars(frame([t(0), t(1)], [BAR, BAR2]), M1, *WINDOW)
    for other in (pickle.loads(pickle.dumps(result)), copy.copy(result)):
        assert other.rows == 2 and other.report == result.report
        pd.testing.assert_frame_equal(other.frame, result.frame)


def test_results_without_bars_answer_from_their_frame() -> None:
    """An empty fetch and a frame with optional columns carry a frame, no bars."""
    empty = conform_bars(pd.DataFrame(), M1, *WINDOW)
    assert empty.bars is None and empty.rows == 0 and len(empty.stored_bars()) == 0
    with_vwap = conform_bars(
        frame([t(0), t(1)], [BAR, BAR2]).assign(vwap=[1.0, 2.0]), M1, *WINDOW, keep_optional=True
    )
    assert with_vwap.bars is None and with_vwap.rows == 2
    np.testing.assert_array_equal(
        with_vwap.stored_bars().ts_seconds, with_vwap.frame["ts"].array.asi8 // 10**9
    )


@dataclass
class Blocked:
    id: str
    why: str
    input: Any
    error: str
    check: str | None
    rows_in: int


BLOCKED = [
    Blocked(
        "none",
        "a fetcher that forgot to return",
        None,
        "expected a pandas DataFrame, got NoneType",
        "is_dataframe",
        0,
    ),
    Blocked(
        "list_of_dicts", "records are not a frame", [{"ts": T0}], "got list", "is_dataframe", 0
    ),
    Blocked(
        "ndarray",
        "a bare array has no column names",
        np.zeros((2, 6)),
        "got ndarray",
        "is_dataframe",
        0,
    ),
    Blocked(
        "missing_column",
        "no volume column: nothing to guess",
        frame([t(0)], [BAR]).drop(columns=["volume"]),
        "missing column 'volume'",
        "column_in_dataframe",
        1,
    ),
    Blocked(
        "missing_ts",
        "no ts: the bars cannot be placed",
        frame([t(0)], [BAR]).drop(columns=["ts"]),
        "missing column 'ts'",
        "column_in_dataframe",
        1,
    ),
    Blocked(
        "string_prices",
        "a price that is not a number",
        frame([t(0), t(1)], [BAR, BAR2]).assign(close=pd.Series(["10.5", "n/a"], dtype=object)),
        "column 'close': coerce_dtype('float64') failed for 1 value(s), e.g. 'n/a'",
        "coerce_dtype('float64')",
        2,
    ),
    Blocked(
        "unparseable_ts_string",
        "text that is not a time",
        frame(["2024-03-10T00:00:00Z", "yesterday-ish"], [BAR, BAR2]),
        "ts: 1 value(s) is not a parseable time, e.g. 'yesterday-ish'",
        "parse_timestamp",
        2,
    ),
    Blocked(
        "nat_ts",
        "a missing time",
        frame(pd.to_datetime([t(0), None], unit="s", utc=True), [BAR, BAR2]),
        "ts: 1 value(s) is NaT",
        "parse_timestamp",
        2,
    ),
    Blocked(
        "nullable_int_ts_with_na",
        "a nullable Int64 column with a missing time",
        frame(pd.array([t(0), None], dtype="Int64"), [BAR, BAR2]),
        "ts: 1 value(s) is missing",
        "parse_timestamp",
        2,
    ),
    Blocked(
        "nan_float_ts",
        "NaN epoch seconds",
        frame([float(t(0)), np.nan], [BAR, BAR2]),
        "is not a finite epoch-seconds time",
        "parse_timestamp",
        2,
    ),
    Blocked(
        "ts_out_of_range",
        "epoch nanoseconds passed as seconds overflow datetime64[ns]",
        frame([t(0) * 1_000_000_000], [BAR]),
        "outside the datetime64[ns] range",
        "parse_timestamp",
        1,
    ),
    Blocked(
        "ts_string_past_2262",
        "text of a time past datetime64[ns] (it parses, to seconds)",
        frame(["2024-03-10T00:00:00Z", "2300-01-01T00:00:00"], [BAR, BAR2]),
        "ts: 1 value(s) is outside the datetime64[ns] range, e.g. '2300-01-01T00:00:00'",
        "parse_timestamp",
        2,
    ),
    Blocked(
        "ts_timestamps_before_1677",
        "Timestamp objects in seconds before datetime64[ns]",
        frame([pd.Timestamp("1500-01-01").as_unit("s")], [BAR]),
        "outside the datetime64[ns] range",
        "parse_timestamp",
        1,
    ),
    Blocked(
        "bool_ts",
        "booleans are not times",
        frame([True], [BAR]),
        "is not a time",
        "parse_timestamp",
        1,
    ),
]


@pytest.mark.parametrize("case", BLOCKED, ids=[c.id for c in BLOCKED])
def test_blocking_schema_errors(case: Blocked) -> None:
    """Schema failures block: ok=False, no rows, the whole window rejected, errors explained."""
    result = conform_bars(case.input, M1, *WINDOW)

    assert result.report.ok is False
    pd.testing.assert_frame_equal(result.frame, stored([]))
    assert list(result.frame.columns) == list(STORED_COLUMNS)
    assert result.rejected == RangeSet([WINDOW])
    assert result.report.rows_in == case.rows_in
    assert result.report.rows_out == 0
    assert any(case.error in e for e in result.report.schema_errors), result.report.schema_errors
    assert case.check in {c["check"] for c in result.report.failure_cases}
    assert "schema" in result.report.summary
    json.dumps(result.report.to_dict(), allow_nan=False)


def test_failure_cases_name_the_rows() -> None:
    """Lazy validation reports every bad value with its row label, capped at 100."""
    source = frame([t(i) for i in range(150)], [BAR] * 150)
    source["open"] = pd.Series(["x"] * 150, dtype=object)
    report = conform_bars(source, M1, *WINDOW).report
    assert len(report.failure_cases) == 100
    assert report.failure_cases[0] == {
        "column": "open",
        "check": "coerce_dtype('float64')",
        "index": 0,
        "failure_case": "x",
    }
    assert report.schema_errors == [
        "column 'open': coerce_dtype('float64') failed for 150 value(s), e.g. 'x', 'x', 'x'"
    ]


def test_schema_and_time_errors_are_reported_together() -> None:
    """Lazy means all at once: a missing column and a bad ts both show up."""
    source = frame(["garbage"], [BAR]).drop(columns=["low"])
    errors = conform_bars(source, M1, *WINDOW).report.schema_errors
    assert errors == [
        "missing column 'low'",
        "ts: 1 value(s) is not a parseable time, e.g. 'garbage'",
    ]


def test_repeated_column_blocks() -> None:
    """Two 'open' columns are ambiguous: which one is the price?"""
    source = pd.DataFrame(
        [[t(0), *BAR, 1.0]], columns=["ts", "open", "high", "low", "close", "volume", "open"]
    )
    report = conform_bars(source, M1, *WINDOW).report
    assert not report.ok
    assert report.schema_errors == ["column 'open' appears 2 times"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": T0 + 1, "end": T0 + 3600}, "start"),
        ({"start": T0, "end": T0 + 30}, "end"),
        ({"start": T0 + 60, "end": T0}, "start"),
        ({"start": "2024-03-10", "end": T0}, "start"),
        ({"flags": -1}, "flags"),
        ({"flags": 2**31}, "flags"),
        ({"interval": "7m"}, "interval"),
    ],
    ids=[
        "misaligned_start",
        "misaligned_end",
        "reversed",
        "string_start",
        "negative_flags",
        "huge_flags",
        "bad_interval",
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], field: str) -> None:
    """Bad windows, flags or intervals are the caller's bug: they raise, naming the field."""
    args: dict[str, Any] = {"interval": M1, "start": T0, "end": T0 + 3600, **kwargs}
    with pytest.raises(InvalidRequestError) as info:
        conform_bars(
            frame([t(0)], [BAR]), args.pop("interval"), args.pop("start"), args.pop("end"), **args
        )
    assert info.value.field == field


def test_empty_window_drops_everything() -> None:
    """start == end: every row is outside, nothing is rejected."""
    result = conform_bars(frame([t(0)], [BAR]), M1, T0, T0)
    assert result.report.ok and result.report.dropped_outside_window == 1
    assert result.frame.empty and not result.rejected


def test_interval_given_as_text() -> None:
    """'5m' works like parse_interval('5m'): 00:07 goes to the 00:05 bar."""
    result = conform_bars(frame([t(7)], [BAR]), "5m", *WINDOW)
    pd.testing.assert_frame_equal(result.frame, stored([(t(5), *BAR, 0)]))
