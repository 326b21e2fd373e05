"""The ``trades`` dataset kind: ticks in, OHLCV bars out.

Every row is one trade — ``ts``, ``price``, ``size`` — so two identical rows
are two trades (real futures data has many) and nothing is dropped as a
duplicate. Trades go through the same stages as bars and come out as a
stored bar frame: open = first price, high = max, low = min, close = last
price, volume = sum of size, trades of one bar taken in time order (equal
times in input order); with ``keep_optional`` also vwap = sum(price * size) /
sum(size). The quality rules judge each trade (NaN or infinite price,
negative or NaN size) and reject the bar it belongs to. The input contract
is the registry's ``trades`` schema (``schemas/trades.v1.yaml``); the modes
config applies under the dataset name ``trades``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from seamless_sdk.conformance.engine.pipeline import ConformanceResult, DatasetKind, Values, conform
from seamless_sdk.conformance.spec.modes import ConformanceConfig, Mode
from seamless_sdk.intervals import Interval

TRADES_SCHEMA_NAME = "trades"
TRADES_SCHEMA_VERSION = "1"


def _trade_values(columns: Mapping[str, np.ndarray]) -> Values:
    price = columns["price"]
    return price, price, price, price, columns["size"]


def _trade_vwap(columns: Mapping[str, np.ndarray], kept: tuple[str, ...]) -> np.ndarray:
    return columns["price"]  # one trade's vwap is its price


TRADES = DatasetKind(TRADES_SCHEMA_NAME, _trade_values, dedup=False, vwap=_trade_vwap)


def conform_trades(
    frame: object,
    interval: Interval | str,
    start: int,
    end: int,
    *,
    flags: int = 0,
    node_id: str | None = None,
    mode: Mode | None = None,
    keep_optional: bool = False,
    schema_version: str | int | None = None,
    out_of_order_window: int | None = None,
    source_priority: Sequence[str] | None = None,
    config: ConformanceConfig | None = None,
) -> ConformanceResult:
    """Roll the trades of ``[start, end)`` up into a stored bar frame.

    Same contract and keywords as ``conform_bars`` (no ``dedup``: every trade
    counts): data problems are in the report, ``rejected`` holds the bars
    whose trades broke a rule, and only a bad interval, window, ``flags`` or
    override raises ``InvalidRequestError``.
    """
    return conform(
        TRADES,
        frame,
        interval,
        start,
        end,
        flags=flags,
        node_id=node_id,
        mode=mode,
        keep_optional=keep_optional,
        schema_version=schema_version,
        out_of_order_window=out_of_order_window,
        source_priority=source_priority,
        config=config,
    )
