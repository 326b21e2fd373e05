"""fill_window writes a partition's chunks in one transaction, and a failure mid-way
keeps what conformed before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.errors import FetchError
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import WindowWrite
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01
M1 = parse_interval("1m")


class CountingStore(LocalStore):
    """A real LocalStore that records the size of every write transaction."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[int] = []

    def write_many(self, writes: Any) -> None:
        self.transactions.append(len(writes))
        super().write_many(writes)


class FailsOnDay:
    """Synthetic bars, except that fetching day ``bad`` raises."""

    def __init__(self, bad: int) -> None:
        self.bad = bad
        self.source = SyntheticFetcher(seed=2)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        if start == T0 + self.bad * DAY:
            raise ConnectionError("source down")
        return self.source.fetch(node_id, interval, start, end)


def test_a_month_is_one_transaction(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "bars.sqlite")
    result = fill_window(
        store, SyntheticFetcher(seed=2), "t:A", M1, T0, T0 + 31 * DAY, policy=FillPolicy()
    )
    assert store.transactions == [31]
    assert result.rows == 31 * 1440 and result.fetched == RangeSet.span(T0, T0 + 31 * DAY)
    assert store.coverage("t:A", M1) == RangeSet.span(T0, T0 + 31 * DAY)
    assert result.frame is not None and len(result.frame) == 31 * 1440
    # Byte-identical to one window at a time.
    other = LocalStore(tmp_path / "other.sqlite")
    for d in range(31):
        day = (T0 + d * DAY, T0 + (d + 1) * DAY)
        fill_window(other, SyntheticFetcher(seed=2), "t:A", M1, *day, policy=FillPolicy())
    pd.testing.assert_frame_equal(
        store.read("t:A", M1, T0, T0 + 31 * DAY), other.read("t:A", M1, T0, T0 + 31 * DAY)
    )


def test_a_failed_fetch_keeps_the_days_before_it(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "bars.sqlite")
    with pytest.raises(FetchError):
        fill_window(
            store, FailsOnDay(3), "t:B", M1, T0, T0 + 7 * DAY, policy=FillPolicy(max_attempts=1)
        )
    assert store.coverage("t:B", M1) == RangeSet.span(T0, T0 + 3 * DAY)
    assert store.transactions == [3]
    # The next fill fetches only what is missing, in one transaction.
    fill_window(store, SyntheticFetcher(seed=2), "t:B", M1, T0, T0 + 7 * DAY, policy=FillPolicy())
    assert store.transactions == [3, 4]
    assert store.coverage("t:B", M1) == RangeSet.span(T0, T0 + 7 * DAY)


def test_window_writes_are_real_items(tmp_path: Path) -> None:
    seen: list[WindowWrite] = []

    class Recording(LocalStore):
        def write_many(self, writes: Any) -> None:
            seen.extend(writes)
            super().write_many(writes)

    store = Recording(tmp_path / "bars.sqlite")
    fill_window(store, SyntheticFetcher(seed=2), "t:C", M1, T0, T0 + 2 * DAY, policy=FillPolicy())
    assert [(w.start, w.end) for w in seen] == [(T0, T0 + DAY), (T0 + DAY, T0 + 2 * DAY)]
