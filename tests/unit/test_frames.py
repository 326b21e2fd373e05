"""``frames.column_array``: pandas' positional column accessor, held to the public one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.frames import column_array


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
