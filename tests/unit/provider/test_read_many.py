"""``read_many``: a universe in one call (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pandas as pd
import pytest

from seamless_sdk import (
    DataUnavailableError,
    InvalidRequestError,
    RangeSet,
    ReadManyError,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
)

from .conftest import DAY, HOUR, T0, MakeProvider

NODES = [f"uni:{i:03d}" for i in range(12)]


def _comparable(meta: Any) -> dict[str, Any]:
    """Meta without what differs between two reads of the same bars."""
    d = meta.to_dict()
    for key in ("request_id", "sla_report"):
        d.pop(key)
    return d


def test_equals_one_read_per_node(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=4))
    for node in NODES[::2]:  # half the universe is stored already
        p.ensure_available(node, "1m", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    many = p.read_many(NODES, "1m", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    assert list(many) == NODES
    fresh = make_provider(SyntheticFetcher(seed=4))
    for node in NODES:
        one = fresh.read(node, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
        pd.testing.assert_frame_equal(many[node].df, one.df)
        assert many[node].meta.missing == RangeSet()
        assert many[node].meta.coverage == one.meta.coverage
    stored = make_provider(None)
    again = stored.read_many(NODES, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    for node in NODES:
        single = stored.read(node, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
        pd.testing.assert_frame_equal(again[node].df, single.df)
        assert _comparable(again[node].meta) == _comparable(single.meta)


def test_a_failing_node_does_not_hide_the_others(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=4))
    for node in NODES[:3]:
        p.ensure_available(node, "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    with pytest.raises(ReadManyError) as info:
        p.read_many(NODES[:4], "1m", T0, T0 + HOUR, strategy=Strategy.FAIL_FAST)
    assert set(info.value.results) == set(NODES[:3])
    assert set(info.value.errors) == {NODES[3]}
    assert isinstance(info.value.errors[NODES[3]], DataUnavailableError)
    assert all(len(r.df) == 60 for r in info.value.results.values())


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        self.release.wait(5)
        return SyntheticFetcher(seed=1).generate(node_id, interval, start, end)


def test_one_deadline_for_the_whole_call(make_provider: MakeProvider) -> None:
    fetcher = Hanging()
    p = make_provider(fetcher, close_timeout_s=0.1)
    t0 = time.perf_counter()
    many = p.read_many(NODES, "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=300))
    elapsed = time.perf_counter() - t0
    fetcher.release.set()
    assert 0.25 < elapsed < 0.8
    assert all(r.meta.sla_report.violation == "total" for r in many.values())


def test_fetches_of_different_nodes_overlap(make_provider: MakeProvider) -> None:
    slow = SyntheticFetcher(seed=2, delay_s=0.3)
    p = make_provider(slow, workers=2)
    t0 = time.perf_counter()
    many = p.read_many(NODES[:4], "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    elapsed = time.perf_counter() - t0
    assert all(len(r.df) == 60 for r in many.values())
    assert elapsed < 0.3 * 4 * 0.8  # two at a time, not one after another
    assert slow.call_count == 4


def test_aread_many(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=3))
    many = asyncio.run(
        p.aread_many(NODES[:3], "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    )
    assert {n: len(r.df) for n, r in many.items()} == dict.fromkeys(NODES[:3], 60)


def test_bad_node_ids_are_rejected_before_any_read(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=3))
    with pytest.raises(InvalidRequestError, match=r"^node_id"):
        p.read_many(["ok:1", "not ok"], "1m", T0, T0 + HOUR)
    with pytest.raises(InvalidRequestError, match=r"^node_ids"):
        p.read_many("ok:1", "1m", T0, T0 + HOUR)  # type: ignore[arg-type]
    assert p.coverage("ok:1", "1m") == RangeSet()
