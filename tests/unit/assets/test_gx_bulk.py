"""One Great Expectations run for many windows gives each window its own verdict."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from seamless_assets.checks.gx_bulk import gx_outcomes
from seamless_assets.checks.gx_check import gx_outcome
from seamless_sdk.conformance import conform_bars
from seamless_sdk.errors import InvalidRequestError

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01


def window(start: int, bars: int = 30) -> pd.DataFrame:
    source = pd.DataFrame(
        {"ts": start + 60 * np.arange(bars), "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5}
    ).assign(volume=4.0)
    return conform_bars(source, "1m", start, start + DAY).frame


@pytest.fixture(scope="module")
def frames() -> list[pd.DataFrame]:
    """Two nodes with the same two days: equal times across frames, which the
    joined run must not count as duplicates or as time going backwards."""
    return [window(T0), window(T0 + DAY), window(T0), window(T0 + DAY)]


WINDOWS = [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)] * 2


def test_clean_windows_pass_with_their_own_numbers(frames: list[pd.DataFrame]) -> None:
    bulk = gx_outcomes(frames, WINDOWS)
    single = gx_outcome(frames[0])
    assert [o.passed for o in bulk] == [True] * 4
    assert [o.metadata for o in bulk] == [single.metadata] * 4
    assert bulk[0].description == single.description


def test_a_bad_window_fails_alone_with_its_own_metadata(frames: list[pd.DataFrame]) -> None:
    bad = frames[2].assign(volume=-1.0)
    bulk = gx_outcomes([frames[0], frames[1], bad, frames[3]], WINDOWS)
    assert [o.passed for o in bulk] == [True, True, False, True]
    assert bulk[2].metadata == gx_outcome(bad).metadata


def test_unordered_bars_inside_one_window_fail(frames: list[pd.DataFrame]) -> None:
    """The shift keeps a window's own order: a window going backwards still fails."""
    backwards = frames[1].iloc[::-1].reset_index(drop=True)
    bulk = gx_outcomes([frames[0], backwards], WINDOWS[:2])
    assert [o.passed for o in bulk] == [True, False]


def test_an_empty_window_is_judged_alone(frames: list[pd.DataFrame]) -> None:
    empty = frames[0].iloc[0:0]
    bulk = gx_outcomes([frames[0], empty, frames[1]], [WINDOWS[0], (T0, T0 + DAY), WINDOWS[1]])
    assert bulk[1].metadata == gx_outcome(empty).metadata
    assert bulk[0].passed and bulk[2].passed


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f.assign(volume=f["volume"].astype("int64")),  # would be upcast by a join
        lambda f: f[["ts", "high", "open", "low", "close", "volume", "flags"]],  # reordered
    ],
)
def test_a_window_of_another_shape_is_judged_alone(
    frames: list[pd.DataFrame], change: Callable[[pd.DataFrame], pd.DataFrame]
) -> None:
    odd = change(frames[1])
    bulk = gx_outcomes([frames[0], odd], WINDOWS[:2])
    assert bulk[1].metadata == gx_outcome(odd).metadata
    assert bulk[0].passed and not bulk[1].passed


def test_frames_and_windows_must_pair_up(frames: list[pd.DataFrame]) -> None:
    with pytest.raises(InvalidRequestError, match=r"^frames: 2 frames for 1 windows"):
        gx_outcomes(frames[:2], WINDOWS[:1])
