"""A provider on a real LocalStore in a temp dir, with a counting synthetic fetcher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, SyntheticFetcher

T0 = 1_704_067_200  # 2024-01-01T00:00:00Z, a Monday
DAY = 86_400
HOUR = 3_600

MakeProvider = Callable[..., SeamlessDataProvider]


@pytest.fixture
def fetcher() -> SyntheticFetcher:
    return SyntheticFetcher(seed=7)


@pytest.fixture
def make_provider(store_path: Path, registry: CollectorRegistry) -> Iterator[MakeProvider]:
    made: list[SeamlessDataProvider] = []

    def make(fetcher: Any = None, **kwargs: Any) -> SeamlessDataProvider:
        kwargs.setdefault("registry", registry)
        provider = SeamlessDataProvider(store=LocalStore(store_path), fetcher=fetcher, **kwargs)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()
