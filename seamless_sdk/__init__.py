"""Seamless: bars of any node and interval over ``[start, end)``, as if all data
had always been there.

>>> from seamless_sdk import SeamlessDataProvider, LocalStore, Strategy
>>> # provider = SeamlessDataProvider(store=LocalStore("bars.sqlite"), fetcher=my_fetcher)
>>> # result = provider.read("demo:BTCUSDT", "1m", "2026-01-01", "2026-01-02")

Public names are imported on first use (PEP 562), so importing a submodule such
as ``seamless_sdk.ranges`` stays cheap. This package imports no Dagster at
import time; the Dagster code location is ``seamless_assets``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seamless_sdk._lazy import lazy_exports

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "BackfillReport": "seamless_sdk.result",
    "BarStream": "seamless_sdk.streaming",
    "ConformanceError": "seamless_sdk.errors",
    "ConformancePipelineError": "seamless_sdk.errors",
    "ConformanceReport": "seamless_sdk.conformance",
    "DataAvailabilityStrategy": "seamless_sdk.strategy",
    "DataUnavailableError": "seamless_sdk.errors",
    "FetchError": "seamless_sdk.errors",
    "FileFetcher": "seamless_sdk.fetchers",
    "FillPolicy": "seamless_sdk.backfill.policy",
    "FillResult": "seamless_sdk.backfill.fill",
    "Flag": "seamless_sdk.conformance",
    "HistoryMeta": "seamless_sdk.result",
    "HistoryProviderAdapter": "seamless_sdk.history_provider",
    "HistoryResult": "seamless_sdk.result",
    "Interval": "seamless_sdk.intervals",
    "InvalidRequestError": "seamless_sdk.errors",
    "LiveFeed": "seamless_sdk.live",
    "LocalStore": "seamless_sdk.stores.local",
    "PollingLiveFeed": "seamless_sdk.live",
    "PredecessorFetcher": "seamless_sdk.history_provider",
    "PostgresCoordinator": "seamless_sdk.coordination.postgres",
    "PostgresStore": "seamless_sdk.stores.postgres",
    "ProviderClosedError": "seamless_sdk.errors",
    "PushLiveFeed": "seamless_sdk.live",
    "QuestDBStore": "seamless_sdk.stores.questdb",
    "RangeSet": "seamless_sdk.ranges",
    "ReadManyError": "seamless_sdk.errors",
    "SLAPolicy": "seamless_sdk.sla",
    "SLAReport": "seamless_sdk.result",
    "SeamlessDataProvider": "seamless_sdk.provider",
    "SeamlessError": "seamless_sdk.errors",
    "SeamlessSLAExceeded": "seamless_sdk.errors",
    "Source": "seamless_sdk.strategy",
    "SourceError": "seamless_sdk.errors",
    "StoreError": "seamless_sdk.errors",
    "Strategy": "seamless_sdk.strategy",
    "SyntheticFetcher": "seamless_sdk.fetchers",
    "SyntheticLiveFeed": "seamless_sdk.live",
    "Watermarks": "seamless_sdk.result",
    "fill_window": "seamless_sdk.backfill.fill",
    "parse_interval": "seamless_sdk.intervals",
}

__all__ = [
    "BackfillReport",
    "BarStream",
    "ConformanceError",
    "ConformancePipelineError",
    "ConformanceReport",
    "DataAvailabilityStrategy",
    "DataUnavailableError",
    "FetchError",
    "FileFetcher",
    "FillPolicy",
    "FillResult",
    "Flag",
    "HistoryMeta",
    "HistoryProviderAdapter",
    "HistoryResult",
    "Interval",
    "InvalidRequestError",
    "LiveFeed",
    "LocalStore",
    "PollingLiveFeed",
    "PostgresCoordinator",
    "PostgresStore",
    "PredecessorFetcher",
    "ProviderClosedError",
    "PushLiveFeed",
    "QuestDBStore",
    "RangeSet",
    "ReadManyError",
    "SLAPolicy",
    "SLAReport",
    "SeamlessDataProvider",
    "SeamlessError",
    "SeamlessSLAExceeded",
    "Source",
    "SourceError",
    "StoreError",
    "Strategy",
    "SyntheticFetcher",
    "SyntheticLiveFeed",
    "Watermarks",
    "fill_window",
    "parse_interval",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from seamless_sdk.backfill.fill import FillResult, fill_window
    from seamless_sdk.backfill.policy import FillPolicy
    from seamless_sdk.conformance import ConformanceReport, Flag
    from seamless_sdk.coordination.postgres import PostgresCoordinator
    from seamless_sdk.errors import (
        ConformanceError,
        ConformancePipelineError,
        DataUnavailableError,
        FetchError,
        InvalidRequestError,
        ProviderClosedError,
        ReadManyError,
        SeamlessError,
        SeamlessSLAExceeded,
        SourceError,
        StoreError,
    )
    from seamless_sdk.fetchers import FileFetcher, SyntheticFetcher
    from seamless_sdk.history_provider import HistoryProviderAdapter, PredecessorFetcher
    from seamless_sdk.intervals import Interval, parse_interval
    from seamless_sdk.live import LiveFeed, PollingLiveFeed, PushLiveFeed, SyntheticLiveFeed
    from seamless_sdk.provider import SeamlessDataProvider
    from seamless_sdk.ranges import RangeSet
    from seamless_sdk.result import (
        BackfillReport,
        HistoryMeta,
        HistoryResult,
        SLAReport,
        Watermarks,
    )
    from seamless_sdk.sla import SLAPolicy
    from seamless_sdk.stores.local import LocalStore
    from seamless_sdk.stores.postgres import PostgresStore
    from seamless_sdk.stores.questdb import QuestDBStore
    from seamless_sdk.strategy import DataAvailabilityStrategy, Source, Strategy
    from seamless_sdk.streaming import BarStream
