"""Fetchers shipped with Seamless.

A fetcher is any object with ``fetch(node_id, interval, start, end) ->
pandas.DataFrame`` (a coroutine function works too), called positionally with
the interval as a string (``"1m"``) and aligned epoch seconds ``[start, end)``.
Its frame has ``ts`` and ``open high low close volume``.

- ``SyntheticFetcher`` / ``AsyncSyntheticFetcher``: deterministic synthetic
  bars, with call recording, delays and gaps for tests.
- ``FileFetcher``: bars from CSV or Parquet files, one per node.
"""

from seamless_sdk.fetchers.files import FileFetcher, node_file_stem
from seamless_sdk.fetchers.synthetic import (
    AsyncSyntheticFetcher,
    SyntheticFetcher,
    synthetic_bars,
)

__all__ = [
    "AsyncSyntheticFetcher",
    "FileFetcher",
    "SyntheticFetcher",
    "node_file_stem",
    "synthetic_bars",
]
