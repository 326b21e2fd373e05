"""The one JSON conversion: every document Seamless writes agrees on every value."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.intervals import parse_interval
from seamless_sdk.jsonable import jsonable
from seamless_sdk.ranges import RangeSet


class Colour(Enum):
    RED = "red"


@dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (np.float64("-inf"), "-inf"),
        (np.float32(1.5), 1.5),
        (np.int64(3), 3),
        (np.bool_(True), True),
        (None, None),
        (RangeSet([(120, 180), (0, 60)]), [[0, 60], [120, 180]]),
        (parse_interval("1m"), "1m"),
        (Colour.RED, "red"),
        (datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T00:00:00+00:00"),
        (pd.Timestamp("2024-01-01", tz="UTC"), "2024-01-01T00:00:00+00:00"),
        (timedelta(seconds=90), 90.0),
        ({1: np.float64("nan"), "b": (1, 2)}, {"1": "nan", "b": [1, 2]}),
        ({3, 1, 2}, [1, 2, 3]),
        (np.array([1.0, np.inf]), [1.0, "inf"]),
        (ValueError("boom"), "ValueError: boom"),
        (Point(1), {"x": 1}),
        (object, str(object)),
    ],
)
def test_values(value: object, expected: object) -> None:
    out = jsonable(value)
    assert out == expected
    json.dumps(out, allow_nan=False)  # always strict JSON
    assert type(out) is type(expected)
