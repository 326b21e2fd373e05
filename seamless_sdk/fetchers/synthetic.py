"""Deterministic synthetic OHLCV bars: a fetcher for tests, demos and benchmarks.

Every value of the bar at ``ts`` is a pure function of ``(seed, node_id,
interval seconds, ts)``, so a bar is identical whatever window it is fetched
in: ``fetch(a, c)`` equals ``fetch(a, b)`` followed by ``fetch(b, c)``.

How a price is made without a window-dependent random walk: the log price at
the close of bar ``k`` is a sum of *value-noise octaves*. Octave ``j`` places a
hashed uniform value every ``8**j`` bars and interpolates linearly between
them, with an amplitude of ``sqrt(8**j)`` so the series wanders like a random
walk up to about ``8**7`` bars and stays bounded beyond. Octave 0 is plain
per-bar noise. A bar opens at the previous bar's close, and its high and low
stretch past ``max/min(open, close)`` by hashed amounts, so the OHLC rules
hold by construction. All hashing is a vectorised splitmix64 over the bar
index, so large windows run at several million bars per second.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

from seamless_sdk.bars import BAR_COLUMNS
from seamless_sdk.intervals import parse_interval

GapFilter = Callable[[np.ndarray], np.ndarray]
Call = tuple[str, str, int, int]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_OCTAVES = 8  # octave j spans 8**j bars; 8**7 bars of 1m is about 4 years
_OCTAVE_BITS = 3
_STREAM_CLOSE, _STREAM_SHAPE = 0, 1  # per-bar streams; octaves use 2 + j
_VOLUME_PER_SECOND = 10.0
_COLUMNS = pd.Index(list(BAR_COLUMNS))
_TS_PLACE, _VALUE_PLACE = np.array([0]), np.arange(1, 6)


def _splitmix(index: np.ndarray, key: np.uint64) -> np.ndarray:
    """splitmix64 output number ``index`` of the stream seeded with ``key`` (uint64)."""
    z = index.view(np.uint64) * _GOLDEN + key
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _uniform_signed(bits: np.ndarray) -> np.ndarray:
    """Floats in [-1, 1) from the top 53 bits of uint64 hashes."""
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0**-52) - 1.0


@lru_cache(maxsize=1024)
def _stream_keys(seed: int, node_id: str, interval_s: int) -> tuple[np.uint64, ...]:
    # blake2b rather than hash(): str hashes are salted per process.
    digest = hashlib.blake2b(
        f"{seed}\x00{node_id}\x00{interval_s}".encode(), digest_size=8
    ).digest()
    base = int.from_bytes(digest, "little")
    streams = 2 + _OCTAVES
    mixed = _splitmix(np.arange(streams, dtype=np.int64), np.uint64(base))
    return tuple(np.uint64(v) for v in mixed)


def _log_price(k: np.ndarray, keys: tuple[np.uint64, ...]) -> np.ndarray:
    """Log-price (in units of volatility) at the close of each bar index in ``k``.

    ``k`` is ascending and contiguous, which lets each octave hash only its
    few knots and gather them, instead of hashing every bar per octave.
    """
    out = _uniform_signed(_splitmix(k, keys[_STREAM_CLOSE]))
    for j in range(1, _OCTAVES):
        shift = np.int64(_OCTAVE_BITS * j)
        span = 1 << (_OCTAVE_BITS * j)
        block = k >> shift
        first = int(block[0])
        knots = np.arange(first, int(block[-1]) + 2, dtype=np.int64)
        values = _uniform_signed(_splitmix(knots, keys[2 + j]))
        slopes = np.diff(values) * (1.0 / span)
        rel = block - first
        frac = (k & np.int64(span - 1)).astype(np.float64)
        out += (values[rel] + slopes[rel] * frac) * np.sqrt(span)
    return out


def synthetic_bars(
    seed: int,
    node_id: str,
    interval_s: int,
    start: int,
    end: int,
    *,
    start_price: float = 100.0,
    volatility: float = 0.001,
) -> pd.DataFrame:
    """The synthetic bars of ``node_id`` with ``start <= ts < end`` (ts aligned).

    Columns ``ts`` (int64 epoch seconds) and ``open high low close volume``
    (float64).
    """
    first = -(-start // interval_s)
    last = -(-end // interval_s)
    n = max(last - first, 0)
    if n == 0:
        return pd.DataFrame(
            {c: np.empty(0, np.int64 if c == "ts" else np.float64) for c in BAR_COLUMNS}
        )
    keys = _stream_keys(seed, node_id, interval_s)
    # One extra bar in front: bar k opens at the close of bar k - 1.
    k = np.arange(first - 1, last, dtype=np.int64)
    log_close = _log_price(k, keys)
    log_close *= volatility
    np.exp(log_close, out=log_close)
    log_close *= start_price
    prices = log_close
    open_, close = prices[:-1], prices[1:]
    shape = _splitmix(k[1:], keys[_STREAM_SHAPE])
    # Three 21-bit uniforms from one hash: high wick, low wick, volume.
    mask21 = np.uint64((1 << 21) - 1)
    scale21 = 2.0**-21
    up = (shape & mask21).astype(np.float64) * scale21
    down = ((shape >> np.uint64(21)) & mask21).astype(np.float64) * scale21
    vol_u = ((shape >> np.uint64(42)) & mask21).astype(np.float64) * scale21
    high = np.maximum(open_, close) * np.exp(up * (0.5 * volatility))
    low = np.minimum(open_, close) * np.exp(down * (-0.5 * volatility))
    volume = (0.25 + 1.5 * vol_u) * (_VOLUME_PER_SECOND * interval_s)
    # Two blocks (int64 ts, one float64 block) instead of pandas' dict
    # constructor, which costs more than generating a day of 15m bars.
    values = np.empty((5, n), np.float64)
    for row, column in enumerate((open_, high, low, close, volume)):
        values[row] = column
    return create_dataframe_from_blocks(
        [((k[1:] * np.int64(interval_s)).reshape(1, n), _TS_PLACE), (values, _VALUE_PLACE)],
        index=pd.RangeIndex(n),
        columns=_COLUMNS,
    )


class _SyntheticSource:
    """State shared by the sync and async synthetic fetchers."""

    def __init__(
        self,
        seed: int = 0,
        *,
        start_price: float = 100.0,
        volatility: float = 0.001,
        calls: bool = True,
        delay_s: float = 0.0,
        gaps: GapFilter | None = None,
    ) -> None:
        if start_price <= 0:
            raise ValueError(f"start_price must be positive, got {start_price}")
        if volatility < 0:
            raise ValueError(f"volatility must be >= 0, got {volatility}")
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.seed = seed
        self.start_price = start_price
        self.volatility = volatility
        self.delay_s = delay_s
        self.gaps = gaps
        self._record = calls
        self._lock = threading.Lock()
        self.calls: list[Call] = []

    @property
    def call_count(self) -> int:
        """How many fetches were made (0 when recording is off)."""
        with self._lock:
            return len(self.calls)

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self.calls.clear()

    def generate(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """The bars a fetch would return, without recording a call or sleeping.

        Tests use it as the ground truth to compare a provider's result with.
        """
        iv = parse_interval(interval)
        frame = synthetic_bars(
            self.seed,
            node_id,
            iv.seconds,
            int(start),
            int(end),
            start_price=self.start_price,
            volatility=self.volatility,
        )
        if self.gaps is not None and len(frame):
            drop = np.asarray(self.gaps(frame["ts"].to_numpy()), dtype=bool)
            if drop.shape != (len(frame),):
                raise ValueError(
                    f"gaps must return a boolean mask of shape ({len(frame)},), got {drop.shape}"
                )
            frame = frame.loc[~drop].reset_index(drop=True)
        return frame

    def _note(self, node_id: str, interval: str, start: int, end: int) -> None:
        if self._record:
            with self._lock:
                self.calls.append((node_id, interval, int(start), int(end)))


class SyntheticFetcher(_SyntheticSource):
    """A fetcher of deterministic synthetic OHLCV bars.

    ``SyntheticFetcher(seed=0, *, start_price=100.0, volatility=0.001,
    calls=True, delay_s=0.0, gaps=None)``: ``volatility`` is the scale of the
    per-bar log-price noise; ``calls=False`` stops recording calls;
    ``delay_s`` sleeps on every fetch to mimic a slow source; ``gaps``
    receives the int64 ``ts`` array of a fetch and returns a boolean mask of
    the bars to drop (to mimic minutes with no trades). Every fetch is
    appended to ``calls`` as ``(node_id, interval, start, end)`` before it
    sleeps, under a lock, so concurrent fetches are all counted.
    """

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """Bars of ``node_id`` with ``start <= ts < end``."""
        self._note(node_id, interval, start, end)
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.generate(node_id, interval, start, end)


class AsyncSyntheticFetcher(_SyntheticSource):
    """The asyncio twin of ``SyntheticFetcher``: same bars, ``await``-able fetch."""

    async def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        """Bars of ``node_id`` with ``start <= ts < end``."""
        self._note(node_id, interval, start, end)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self.generate(node_id, interval, start, end)
