"""Properties of conform_bars over generated messy frames (hypothesis).

The generator mixes in-window and out-of-window rows, several samples per
bar, exact duplicates, rows in any order and, sometimes, rows that break a
quality rule. The properties are the pipeline's promises: the output is
always a valid stored frame; no bar is invented and no valid bar is lost;
the roll-up matches a pandas reference; conforming twice changes nothing;
and how ``ts`` is spelled (ints, ISO strings, zones) does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamless_sdk.bars import BAR_COLUMNS
from seamless_sdk.conformance import BarFlag, conform_bars, validate_stored
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.ranges import RangeSet

T0 = 1_710_028_800  # aligned to every interval used below
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Europe/London", "Australia/Lord_Howe"]


@dataclass(frozen=True)
class Scenario:
    interval: Interval
    start: int
    end: int
    frame: pd.DataFrame  # ts as int epoch seconds

    def bar_of(self, ts: np.ndarray) -> np.ndarray:
        return ts - ts % self.interval.seconds

    def in_window(self) -> pd.DataFrame:
        bars = self.bar_of(self.frame["ts"].to_numpy())
        return self.frame[(bars >= self.start) & (bars < self.end)]


# Prices on a quarter grid keep sums exact, so results compare with ==.
price = st.integers(min_value=1, max_value=400).map(lambda q: q / 4)


@st.composite
def bar_rows(draw: st.DrawFn, valid: bool) -> tuple[float, float, float, float, float]:
    o, c = draw(price), draw(price)
    h = max(o, c) + draw(st.integers(0, 8)) / 4
    low = min(o, c) - draw(st.integers(0, 3)) / 4
    v = draw(st.integers(0, 100)) / 4
    if not valid:
        broken = draw(st.sampled_from(["volume", "high", "low", "nan"]))
        if broken == "volume":
            v = -1.0
        elif broken == "high":
            h = max(o, c) - 1
        elif broken == "low":
            low = min(o, c) + 1
        else:
            c = float("nan")
    return (o, h, low, c, v)


@st.composite
def scenarios(draw: st.DrawFn, allow_invalid: bool = True) -> Scenario:
    interval = parse_interval(draw(st.sampled_from(["1m", "5m", "1h"])))
    n_bars = draw(st.integers(0, 12))
    start = T0 + draw(st.integers(0, 3)) * interval.seconds
    end = start + n_bars * interval.seconds
    offset = st.integers(-2 * interval.seconds, (n_bars + 2) * interval.seconds - 1)
    validity = st.booleans() if allow_invalid else st.just(True)
    base = draw(
        st.lists(
            st.tuples(offset, validity.flatmap(lambda ok: bar_rows(ok))),
            min_size=0,
            max_size=30,
        )
    )
    rows = [(start + off, *values) for off, values in base]
    if rows:
        repeats = draw(st.lists(st.sampled_from(rows), max_size=5))
        rows += repeats
        order = draw(st.permutations(range(len(rows))))
        rows = [rows[i] for i in order]
    frame = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
    frame = frame.astype({"ts": "int64", **dict.fromkeys(BAR_COLUMNS[1:], "float64")})
    return Scenario(interval, start, end, frame)


def reference(s: Scenario) -> pd.DataFrame:
    """The roll-up spelled out with pandas: drop exact duplicates, then group by bar."""
    rows = s.in_window().drop_duplicates(keep="first")
    rows = rows.sort_values("ts", kind="stable")
    rows = rows.assign(bar=s.bar_of(rows["ts"].to_numpy()))
    grouped = rows.groupby("bar", sort=True)
    out = pd.DataFrame(
        {
            "open": grouped["open"].first(),
            "high": grouped["high"].max(),
            "low": grouped["low"].min(),
            "close": grouped["close"].last(),
            "volume": grouped["volume"].sum(),
        }
    )
    return out


def bars_of(frame: pd.DataFrame) -> list[int]:
    return (frame["ts"].astype("int64") // 1_000_000_000).tolist()


@SETTINGS
@given(scenarios())
def test_output_is_always_a_stored_frame(s: Scenario) -> None:
    """Whatever goes in, what comes out is sorted, unique, aligned and in the window."""
    result = conform_bars(s.frame, s.interval, s.start, s.end)
    bars = np.array(bars_of(result.frame), dtype=np.int64)
    assert validate_stored(result.frame) == ([], [])
    assert (np.diff(bars) > 0).all()
    assert ((bars >= s.start) & (bars < s.end)).all()
    assert (bars % s.interval.seconds == 0).all()
    assert result.report.rows_out == len(result.frame)
    assert result.report.ok is (not result.rejected)


@SETTINGS
@given(scenarios())
def test_never_invents_or_loses_a_bar(s: Scenario) -> None:
    """Output bars = in-window input bars minus the rejected ones; rejected ⊆ input."""
    result = conform_bars(s.frame, s.interval, s.start, s.end)
    input_bars = set(s.bar_of(s.in_window()["ts"].to_numpy()).tolist())
    out = set(bars_of(result.frame))
    rejected = {b for b in input_bars if result.rejected.covers(b, b + s.interval.seconds)}
    assert out == input_bars - rejected
    assert RangeSet((b, b + s.interval.seconds) for b in rejected) == result.rejected
    assert result.report.rejected_bars == len(rejected)


@SETTINGS
@given(scenarios(allow_invalid=False))
def test_valid_input_keeps_every_bar_and_matches_reference(s: Scenario) -> None:
    """With clean rows nothing is rejected and the roll-up equals pandas' groupby."""
    result = conform_bars(s.frame, s.interval, s.start, s.end)
    assert result.report.ok and not result.rejected
    expected = reference(s)
    assert bars_of(result.frame) == expected.index.tolist()
    got = result.frame.drop(columns=["ts", "flags"])
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))


@SETTINGS
@given(scenarios())
def test_counts_account_for_every_row(s: Scenario) -> None:
    """rows_in = outside + duplicates + rows that became bars (kept or rejected)."""
    result = conform_bars(s.frame, s.interval, s.start, s.end)
    r = result.report
    samples = r.stages["rollup"]["samples_merged"]
    bars_formed = r.rows_out + r.rejected_bars
    assert (
        r.rows_in == r.dropped_outside_window + r.duplicates + bars_formed - r.rolled_up + samples
    )
    rolled = result.frame["flags"].to_numpy() & BarFlag.ROLLED_UP
    assert np.count_nonzero(rolled) <= r.rolled_up


@SETTINGS
@given(
    scenarios(), st.sampled_from([0, int(BarFlag.BACKFILLED), int(BarFlag.LIVE | BarFlag.ADJUSTED)])
)
def test_conform_is_idempotent(s: Scenario, flags: int) -> None:
    """Conforming a conformed frame changes no bar and reports nothing to fix."""
    first = conform_bars(s.frame, s.interval, s.start, s.end, flags=flags)
    again = conform_bars(first.frame[list(BAR_COLUMNS)], s.interval, s.start, s.end)
    pd.testing.assert_frame_equal(again.frame[list(BAR_COLUMNS)], first.frame[list(BAR_COLUMNS)])
    assert (again.frame["flags"] == 0).all()
    assert (first.frame["flags"].to_numpy() & flags == flags).all()
    r = again.report
    assert r.ok and (r.duplicates, r.rolled_up, r.dropped_outside_window, r.out_of_order) == (
        0,
        0,
        0,
        0,
    )


@SETTINGS
@given(scenarios(), st.sampled_from(ZONES), st.sampled_from(["iso", "aware", "naive", "float"]))
def test_ts_spelling_does_not_matter(s: Scenario, zone: str, form: str) -> None:
    """The same instants as ISO strings with offsets, zoned or naive datetimes, or floats."""
    instants = pd.to_datetime(s.frame["ts"], unit="s", utc=True)
    if form == "iso":
        ts: pd.Series = instants.dt.tz_convert(zone).map(lambda x: x.isoformat()).astype(object)
    elif form == "aware":
        ts = instants.dt.tz_convert(zone)
    elif form == "naive":
        ts = instants.dt.tz_localize(None)
    else:
        ts = s.frame["ts"].astype("float64")
    base = conform_bars(s.frame, s.interval, s.start, s.end)
    other = conform_bars(s.frame.assign(ts=ts), s.interval, s.start, s.end)
    pd.testing.assert_frame_equal(other.frame, base.frame)
    assert other.rejected == base.rejected


@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_bars_when_ts_are_distinct(s: Scenario, rnd: object) -> None:
    """Samples combine in time order, so shuffling rows with distinct ts changes no bar."""
    distinct = s.frame.drop_duplicates(subset="ts")
    order = list(range(len(distinct)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = distinct.iloc[order]
    a = conform_bars(distinct, s.interval, s.start, s.end).frame
    b = conform_bars(shuffled, s.interval, s.start, s.end).frame
    pd.testing.assert_frame_equal(a[list(BAR_COLUMNS)], b[list(BAR_COLUMNS)])


SOURCES = ["cache", "storage", "backfill", "live", "vendor_x"]
PRIORITY = ("cache", "storage", "backfill", "live")


@st.composite
def claimed(draw: st.DrawFn, allow_invalid: bool = True) -> tuple[Scenario, str]:
    """A scenario whose rows also carry a source and an ingest time, and a dedup policy."""
    s = draw(scenarios(allow_invalid=allow_invalid))
    n = len(s.frame)
    frame = s.frame.assign(
        source=draw(st.lists(st.sampled_from(SOURCES), min_size=n, max_size=n)),
        ingest_time=draw(st.lists(st.integers(T0, T0 + 5), min_size=n, max_size=n)),
    )
    policy = draw(st.sampled_from(["source_priority", "ingest_time"]))
    return Scenario(s.interval, s.start, s.end, frame), policy


def winners_reference(s: Scenario, policy: str) -> Scenario:
    """The rows that win their bar, spelled out with pandas."""
    rows = s.in_window()
    bar = s.bar_of(rows["ts"].to_numpy())
    if policy == "source_priority":
        rank = rows["source"].map({k: i for i, k in enumerate(PRIORITY)}).fillna(len(PRIORITY))
    else:
        rank = -rows["ingest_time"]
    best = rank.groupby(bar).transform("min")
    kept = rows[rank == best]
    return Scenario(s.interval, s.start, s.end, kept[list(BAR_COLUMNS)])


@SETTINGS
@given(claimed())
def test_dedup_policies_never_invent_or_lose_a_bar(case: tuple[Scenario, str]) -> None:
    """Whatever the policy, every in-window bar comes out unless a rule rejected it."""
    s, policy = case
    result = conform_bars(s.frame, s.interval, s.start, s.end, dedup=policy)
    assert validate_stored(result.frame) == ([], [])
    input_bars = set(s.bar_of(s.in_window()["ts"].to_numpy()).tolist())
    out = set(bars_of(result.frame))
    rejected = {b for b in input_bars if result.rejected.covers(b, b + s.interval.seconds)}
    assert out == input_bars - rejected
    r = result.report
    samples = r.stages["rollup"]["samples_merged"]
    bars_formed = r.rows_out + r.rejected_bars
    assert r.rows_in == (
        r.dropped_outside_window + r.superseded + r.duplicates + bars_formed - r.rolled_up + samples
    )


@SETTINGS
@given(claimed(allow_invalid=False))
def test_dedup_policies_match_reference_and_are_idempotent(case: tuple[Scenario, str]) -> None:
    """The winners roll up exactly as pandas says; conforming the result changes nothing."""
    s, policy = case
    result = conform_bars(s.frame, s.interval, s.start, s.end, dedup=policy)
    expected = reference(winners_reference(s, policy))
    assert bars_of(result.frame) == expected.index.tolist()
    got = result.frame.drop(columns=["ts", "flags"])
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))
    again = conform_bars(result.frame[list(BAR_COLUMNS)], s.interval, s.start, s.end, dedup=policy)
    pd.testing.assert_frame_equal(again.frame[list(BAR_COLUMNS)], result.frame[list(BAR_COLUMNS)])
    assert (again.report.superseded, again.report.duplicates, again.report.rolled_up) == (0, 0, 0)
