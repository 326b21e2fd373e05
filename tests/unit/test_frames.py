"""``frames.column_array``: pandas' positional column accessor, held to the public one."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seamless_sdk import frames
from seamless_sdk.bars import NS
from seamless_sdk.frames import Bars, column_array


def _mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ts": np.arange(3, dtype=np.int64),
            "open": [1.0, 2.0, np.nan],
            "when": pd.date_range("2026-01-01", periods=3, freq="h", tz="Europe/Paris"),
            "name": ["a", "b", None],
            "size": pd.array([1, None, 3], dtype="Int64"),
            "kind": pd.Categorical(["x", "y", "x"]),
            "any": [object(), 1, "z"],
        }
    )


@pytest.mark.parametrize("position", range(7))
def test_column_array_is_the_columns_array(position: int) -> None:
    frame = _mixed()
    got = column_array(frame, position)
    public = frame.iloc[:, position]
    assert got.dtype == public.dtype
    assert pd.Series(got, name=public.name).equals(public)


def test_column_array_is_not_a_copy_of_a_numpy_column() -> None:
    frame = pd.DataFrame({"ts": np.arange(4, dtype=np.int64), "close": np.ones(4)})
    assert np.shares_memory(column_array(frame, 1), frame["close"].to_numpy())


def test_column_array_by_position_tells_repeated_names_apart() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["close", "close"])
    assert column_array(frame, 0).tolist() == [1.0]
    assert column_array(frame, 1).tolist() == [2.0]


@given(
    st.lists(
        st.tuples(st.sampled_from(["cache", "storage", "backfill", "live"]), st.integers(0, 40)),
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
def test_the_source_column_names_the_piece_each_row_came_from(
    shape: list[tuple[str, int]], rng: random.Random
) -> None:
    # Built by Arrow from a dictionary rather than a Python string per row: the
    # same values and dtype as pandas' own constructor gives.
    times = list(range(sum(n for _, n in shape)))
    rng.shuffle(times)  # pieces interleave in time, as a cache hit inside a fill does
    pieces, at = [], 0
    for src, n in shape:
        ts = np.array(sorted(times[at : at + n]), np.int64) * NS
        at += n
        pieces.append((src, Bars.build(ts, [np.zeros(n)] * 5, np.zeros(n, np.int32))))
    bars = Bars.concat([b for _, b in pieces])
    got = frames._sources(bars, pieces)
    by_ts = {int(t): src for src, b in pieces for t in b.ts_ns}
    want = pd.array([by_ts[int(t)] for t in bars.ts_ns], dtype="str")
    assert got.dtype == want.dtype
    assert list(got) == list(want)
