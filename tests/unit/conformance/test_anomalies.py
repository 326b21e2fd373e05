"""The statistical rules on their own: where a robust score helps and where it must stay quiet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seamless_sdk.conformance.engine.anomalies import _median, abnormal_jumps, stale_prices

JUMP = {"threshold": 16.0, "min_returns": 20, "min_move": 0.01}


def walk(n: int, seed: int = 3, sigma: float = 0.01) -> np.ndarray:
    """A random walk of closes with daily-like returns."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, sigma, n)))


@pytest.mark.parametrize(
    ("close", "flagged"),
    [
        pytest.param(walk(250), [], id="normal_returns_never_jump"),
        pytest.param(
            np.concatenate([walk(100)[:50], walk(100)[50:] * 0.5]),
            [50],
            id="level_shift_is_one_jump",
        ),
        pytest.param(
            np.where(np.arange(100) == 40, walk(100) * 10, walk(100)),
            [40],
            id="bad_tick_flags_spike_not_the_way_back",
        ),
        pytest.param(walk(15) * np.where(np.arange(15) == 7, 10, 1), [], id="too_few_returns"),
        pytest.param(
            np.where(np.arange(60) == 30, 100.01, 100.0), [], id="one_tick_in_still_market"
        ),
        pytest.param(
            np.where(np.arange(60) == 30, 1000.0, 100.0), [30], id="spike_in_still_market"
        ),
        pytest.param(
            np.where(np.arange(60) % 7 == 0, -5.0, walk(60)), [], id="non_positive_prices_skipped"
        ),
        pytest.param(np.full(50, 100.0), [], id="constant_series"),
    ],
)
def test_abnormal_jumps(close: np.ndarray, flagged: list[int]) -> None:
    """The flagged bars are exactly the ones a person looking at the chart would circle."""
    assert np.flatnonzero(abnormal_jumps(close, **JUMP)).tolist() == flagged


def test_threshold_and_min_move_are_honoured() -> None:
    """A lower threshold sees more; a large min_move hides a real but modest jump."""
    close = walk(200, seed=5, sigma=0.01)
    close[120:] *= 1.08  # an 8% gap against 1% moves
    assert abnormal_jumps(close, threshold=5.0, min_returns=20).tolist().count(True) >= 1
    assert not abnormal_jumps(close, threshold=5.0, min_returns=20, min_move=0.1).any()


@pytest.mark.parametrize(
    ("close", "volume", "flagged"),
    [
        pytest.param(
            np.r_[walk(5), np.full(30, 50.0)], np.full(35, 1.0), list(range(5, 35)), id="run_of_30"
        ),
        pytest.param(np.r_[walk(5), np.full(29, 50.0)], np.full(34, 1.0), [], id="run_of_29"),
        pytest.param(
            np.full(40, 50.0),
            np.where(np.arange(40) == 20, 0.0, 1.0),
            [],
            id="a_bar_without_volume_breaks_the_run",
        ),
        pytest.param(np.full(40, 50.0), np.zeros(40), [], id="no_volume_no_staleness"),
        pytest.param(np.full(10, 50.0), np.ones(10), [], id="shorter_than_a_run"),
    ],
)
def test_stale_prices(close: np.ndarray, volume: np.ndarray, flagged: list[int]) -> None:
    """Only traded bars frozen at one close for min_run bars in a row are stale."""
    assert np.flatnonzero(stale_prices(close, volume, min_run=30)).tolist() == flagged


@given(hnp.arrays(np.float64, st.integers(1, 400), elements=st.floats(-1e6, 1e6, width=64)))
def test_the_rules_median_is_numpys(values: np.ndarray) -> None:
    assert _median(values) == float(np.median(values))


def _stale_reference(close: np.ndarray, volume: np.ndarray, min_run: int) -> list[int]:
    """Stale bars by walking the runs one bar at a time (the rule as a person states it)."""
    flagged: list[int] = []
    i = 0
    while i < len(close):
        j = i
        if volume[i] > 0 and not np.isnan(close[i]):
            while j + 1 < len(close) and volume[j + 1] > 0 and close[j + 1] == close[i]:
                j += 1
            if j - i + 1 >= min_run:
                flagged.extend(range(i, j + 1))
        i = j + 1
    return flagged


@given(
    st.lists(
        st.tuples(st.sampled_from([50.0, 50.5, np.nan]), st.sampled_from([0.0, 1.0, 1.0, 1.0])),
        max_size=120,
    ),
    st.integers(1, 12),
)
def test_stale_prices_agrees_with_a_walk_over_the_runs(
    bars: list[tuple[float, float]], min_run: int
) -> None:
    """Few distinct closes make long runs likely, so both the early exit (too few
    equal neighbours for any run) and the run arithmetic are exercised."""
    close = np.array([c for c, _ in bars], dtype=np.float64)
    volume = np.array([v for _, v in bars], dtype=np.float64)
    got = np.flatnonzero(stale_prices(close, volume, min_run=min_run)).tolist()
    assert got == _stale_reference(close, volume, min_run)
