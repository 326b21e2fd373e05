"""The public names other tests depend on (DESIGN.md, "Public API contract")."""

from __future__ import annotations

import subprocess
import sys

import seamless_sdk

CONTRACT = {
    "SeamlessDataProvider",
    "Strategy",
    "SLAPolicy",
    "HistoryResult",
    "HistoryMeta",
    "RangeSet",
    "LocalStore",
    "SeamlessSLAExceeded",
    "ConformanceError",
    "DataUnavailableError",
    "InvalidRequestError",
}


def test_all_is_pinned() -> None:
    assert sorted(seamless_sdk.__all__) == [
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
    assert set(seamless_sdk.__all__) >= CONTRACT
    for name in seamless_sdk.__all__:
        assert getattr(seamless_sdk, name) is not None


def test_error_hierarchy() -> None:
    from seamless_sdk import errors

    assert issubclass(errors.InvalidRequestError, ValueError)
    for name in (
        "InvalidRequestError",
        "DataUnavailableError",
        "SeamlessSLAExceeded",
        "ConformanceError",
        "FetchError",
        "StoreError",
        "ProviderClosedError",
        "SourceError",
    ):
        assert issubclass(getattr(errors, name), errors.SeamlessError)


def test_the_predecessors_names_are_the_same_objects() -> None:
    # Seeds/README: exception names carry over; code written for the predecessor
    # catches and names them as it did.
    import seamless_sdk

    assert seamless_sdk.ConformancePipelineError is seamless_sdk.ConformanceError
    assert seamless_sdk.DataAvailabilityStrategy is seamless_sdk.Strategy
    assert seamless_sdk.DataAvailabilityStrategy.SEAMLESS is seamless_sdk.Strategy.SEAMLESS


def test_sdk_imports_no_dagster() -> None:
    code = (
        "import sys, seamless_sdk\n"
        "from seamless_sdk import *\n"
        "assert not any(m == 'dagster' or m.startswith('dagster.') for m in sys.modules), "
        "[m for m in sys.modules if m.startswith('dagster')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
