"""Live sources: feeds that deliver bars as they close (see ``base``).

``PushLiveFeed`` is fed by a callback (a websocket client), ``PollingLiveFeed``
polls a fetcher-shaped source at every bar boundary, ``SyntheticLiveFeed`` is
the demo feed whose bars equal ``SyntheticFetcher``'s.
"""

from seamless_sdk.live.base import LiveBars, LiveEvent, LiveFeed, LiveGap, Subscription
from seamless_sdk.live.polling import PollingLiveFeed
from seamless_sdk.live.push import PushLiveFeed
from seamless_sdk.live.synthetic import SyntheticLiveFeed

__all__ = [
    "LiveBars",
    "LiveEvent",
    "LiveFeed",
    "LiveGap",
    "PollingLiveFeed",
    "PushLiveFeed",
    "Subscription",
    "SyntheticLiveFeed",
]
