"""A synthetic live feed for demos and tests: the same bars as ``SyntheticFetcher``."""

from __future__ import annotations

import time
from collections.abc import Callable

from seamless_sdk.fetchers import SyntheticFetcher
from seamless_sdk.live.base import DEFAULT_QUEUE_EVENTS
from seamless_sdk.live.polling import PollingLiveFeed


class SyntheticLiveFeed(PollingLiveFeed):
    """Polls a ``SyntheticFetcher(seed=seed)`` at every bar boundary, so its bars
    equal the fetcher's for the same node and time.

    >>> feed = SyntheticLiveFeed(seed=42)
    >>> bars = feed.fetch("demo:BTCUSDT", "1m", 1_700_000_040, 1_700_000_160)
    >>> len(bars)
    2
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        settle_s: float = 0.05,
        partial_every_s: float | None = None,
        clock: Callable[[], float] = time.time,
        maxsize: int = DEFAULT_QUEUE_EVENTS,
    ) -> None:
        super().__init__(
            SyntheticFetcher(seed=seed, calls=False),
            settle_s=settle_s,
            partial_every_s=partial_every_s,
            clock=clock,
            maxsize=maxsize,
        )
        self.seed = seed
