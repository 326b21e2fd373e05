"""The ``trades`` dataset kind: ticks in, OHLCV bars out.

Every row is one trade — ``ts``, ``price``, ``size`` — so two identical rows
are two trades (real futures data has many) and nothing is dropped as a
duplicate. Trades go through the same stages as bars and come out as a
stored bar frame: open = first price, high = max, low = min, close = last
price, volume = sum of size, trades of one bar taken in time order (equal
times in input order). The quality rules judge each trade (NaN or infinite
price, negative or NaN size) and reject the bar it belongs to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seamless_sdk.conformance.pipeline import ConformanceResult, DatasetKind, Values, conform
from seamless_sdk.conformance.schema import input_spec
from seamless_sdk.intervals import Interval

TRADES_SCHEMA_NAME = "trades"
TRADES_SCHEMA_VERSION = "1"
TRADES_INPUT = input_spec(TRADES_SCHEMA_NAME, TRADES_SCHEMA_VERSION, ("price", "size"))


def _trade_values(frame: pd.DataFrame) -> Values:
    price = frame["price"].to_numpy(dtype=np.float64)
    return price, price, price, price, frame["size"].to_numpy(dtype=np.float64)


TRADES = DatasetKind(TRADES_INPUT, _trade_values, dedup=False)


def conform_trades(
    frame: object, interval: Interval | str, start: int, end: int, *, flags: int = 0
) -> ConformanceResult:
    """Roll the trades of ``[start, end)`` up into a stored bar frame.

    Same contract as ``conform_bars``: data problems are in the report,
    ``rejected`` holds the bars whose trades broke a rule, and only a bad
    interval, window or ``flags`` raises ``InvalidRequestError``.
    """
    return conform(TRADES, frame, interval, start, end, flags=flags)
