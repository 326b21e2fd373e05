"""The predecessor's history-provider calls, answered by Seamless (issue 13, item 4).

The calls are the ones seed 001 shows for a gradual migration::

    await provider.fill_missing(...)   # manual backfill (old code)
    data = await provider.fetch(...)   # automatic backfill (new code)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    HistoryProviderAdapter,
    InvalidRequestError,
    LocalStore,
    PredecessorFetcher,
    SeamlessDataProvider,
    SyntheticFetcher,
)

T0 = 1_704_067_200
HOUR = 3600


@pytest.fixture
def legacy(tmp_path: Path) -> HistoryProviderAdapter:
    fetcher = SyntheticFetcher(seed=8)
    provider = SeamlessDataProvider(
        LocalStore(tmp_path / "h.sqlite"), fetcher, registry=CollectorRegistry()
    )
    yield HistoryProviderAdapter(provider)
    provider.close()


def test_old_code_fill_missing_then_fetch(legacy: HistoryProviderAdapter) -> None:
    async def old_code() -> None:
        await legacy.fill_missing(T0, T0 + HOUR, node_id="demo:A", interval=60)
        data = await legacy.fetch(T0, T0 + HOUR, node_id="demo:A", interval=60)
        assert data["ts"].dtype == np.int64
        assert data["ts"].tolist() == list(range(T0, T0 + HOUR, 60))
        assert await legacy.coverage(node_id="demo:A", interval=60) == [(T0, T0 + HOUR - 60)]

    asyncio.run(old_code())
    assert legacy.provider.fetcher.call_count == 1  # fetch() found it stored


def test_new_code_fetch_backfills_by_itself(legacy: HistoryProviderAdapter) -> None:
    async def new_code() -> None:
        data = await legacy.fetch(T0, T0 + 2 * HOUR, node_id="demo:B", interval="1m")
        assert len(data) == 120
        expected = SyntheticFetcher(seed=8).generate("demo:B", "1m", T0, T0 + 2 * HOUR)
        np.testing.assert_allclose(data["close"], expected["close"])

    asyncio.run(new_code())


def test_the_rest_of_the_predecessors_provider_base_class(
    legacy: HistoryProviderAdapter,
) -> None:
    class Stream:  # what the predecessor's StreamInput hands bind_stream
        node_id = "demo:S"

    legacy.bind_stream(Stream())
    assert legacy._stream_id == "demo:S"

    async def old_code() -> None:
        await legacy.ensure_range(T0, T0 + HOUR, node_id="demo:S", interval=60)
        assert await legacy.coverage(node_id="demo:S", interval=60) == [(T0, T0 + HOUR - 60)]

    asyncio.run(old_code())


def test_a_predecessors_fetcher_is_used_as_it_is(tmp_path: Path) -> None:
    # Its signature: ``async def fetch(self, start, end, *, node_id, interval)``,
    # interval in seconds, ts in int seconds; Seamless calls fetchers positionally.
    calls: list[tuple[int, int, str, int]] = []

    class OldFetcher:
        async def fetch(self, start: int, end: int, *, node_id: str, interval: int) -> object:
            calls.append((start, end, node_id, interval))
            frame = SyntheticFetcher(seed=8).generate(node_id, f"{interval}s", start, end)
            assert frame["ts"].dtype == np.int64  # epoch seconds, as the predecessor's
            return frame

    provider = SeamlessDataProvider(
        LocalStore(tmp_path / "p.sqlite"),
        PredecessorFetcher(OldFetcher()),
        registry=CollectorRegistry(),
    )
    with provider:
        frame = provider.read("demo:P", "1m", T0, T0 + HOUR, return_meta=False)
    assert calls == [(T0, T0 + HOUR, "demo:P", 60)]
    expected = SyntheticFetcher(seed=8).generate("demo:P", "1m", T0, T0 + HOUR)
    np.testing.assert_allclose(frame["close"], expected["close"])
    with pytest.raises(InvalidRequestError, match="fetcher"):
        PredecessorFetcher(object())


def test_datetime_ts_on_request(tmp_path: Path) -> None:
    with SeamlessDataProvider(
        LocalStore(tmp_path / "d.sqlite"), SyntheticFetcher(seed=1), registry=CollectorRegistry()
    ) as provider:
        legacy = HistoryProviderAdapter(provider, ts="datetime")
        data = asyncio.run(legacy.fetch(T0, T0 + 600, node_id="demo:C", interval=60))
        assert str(data["ts"].dtype) == "datetime64[ns, UTC]"
        # Seconds as a numpy int (as read from a frame or a config array) work too.
        again = asyncio.run(legacy.fetch(T0, T0 + 600, node_id="demo:C", interval=np.int64(60)))
        assert len(again) == len(data) == 10


@pytest.mark.parametrize("interval", [0, -60, True, np.bool_(True), np.int64(0), "1x"])
def test_bad_intervals_name_the_field(legacy: HistoryProviderAdapter, interval: object) -> None:
    with pytest.raises(InvalidRequestError, match=r"^interval"):
        asyncio.run(legacy.fetch(T0, T0 + 60, node_id="demo:A", interval=interval))  # type: ignore[arg-type]
