"""``read_many``: a universe in one call (issue 13, item 3)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    DataUnavailableError,
    InvalidRequestError,
    RangeSet,
    ReadManyError,
    SLAPolicy,
    Strategy,
    SyntheticFetcher,
    settings,
)
from seamless_sdk.errors import StoreCorruptedError
from seamless_sdk.sla import Deadline
from seamless_sdk.strategy import Source

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


def test_waiting_reads_keep_back_time_to_finish_the_others(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walks' waits end FINISH_S_PER_RUN per walking node before the shared
    deadline: once they stop waiting the reads are finished one after another
    (200 nodes whose fills outlast the budget answered up to 130 ms late)."""
    from seamless_sdk.engine import ReadEngine
    from seamless_sdk.many import FINISH_S_PER_RUN

    _store(make_provider, NODES[:2], T0, T0 + DAY)
    seen: list[float] = []
    run = ReadEngine.run

    def spy(self: Any, *args: Any, reserve_s: float = 0.0, **kwargs: Any) -> Any:
        seen.append(reserve_s)
        return run(self, *args, reserve_s=reserve_s, **kwargs)

    monkeypatch.setattr(ReadEngine, "run", spy)
    p = make_provider(SyntheticFetcher(seed=5))
    p.read_many(NODES[:5], "1m", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    assert seen == [3 * FINISH_S_PER_RUN] * 3  # the three nodes with gaps walk
    deadline = Deadline(SLAPolicy(total_deadline_ms=100), reserve_s=0.03)
    timeout, binding = deadline.timeout_s("backfill")
    assert binding == "total" and timeout is not None and timeout <= 0.07


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
    for bad in (None, 5, b"ok:1"):
        with pytest.raises(InvalidRequestError, match=r"^node_ids"):
            p.read_many(bad, "1m", T0, T0 + HOUR)  # type: ignore[arg-type]
    assert p.coverage("ok:1", "1m") == RangeSet()


def test_an_empty_universe_still_checks_the_request(make_provider: MakeProvider) -> None:
    p = make_provider(SyntheticFetcher(seed=3))
    assert p.read_many([], "1m", T0, T0 + HOUR) == {}
    with pytest.raises(InvalidRequestError, match=r"^interval"):
        p.read_many([], "bogus", T0, T0 + HOUR)
    with pytest.raises(InvalidRequestError, match=r"^start"):
        p.read_many([], "1m", "garbage", T0 + HOUR)
    with pytest.raises(InvalidRequestError, match=r"^end"):
        asyncio.run(p.aread_many([], "1m", T0, T0 - 60))


# -- the batch path: nodes wholly stored or cached --------------------------------
def _counts(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram count of ``registry`` (times left out)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith(("_sum", "_bucket", "_created"))
    }


def _store(make_provider: MakeProvider, nodes: list[str], start: int, end: int) -> None:
    p = make_provider(SyntheticFetcher(seed=5), registry=CollectorRegistry())
    for node in nodes:
        p.ensure_available(node, "1m", start, end, strategy=Strategy.AUTO_BACKFILL)


@pytest.mark.parametrize("lineage", [False, True])
def test_batch_answers_equal_reads_with_the_cache_on(
    make_provider: MakeProvider, lineage: bool
) -> None:
    """Round after round (the cache admits a span the second time it is read and
    serves it the third), read_many gives each node what read gives it, and
    the metrics count the same reads, sources, cache hits and misses."""
    _store(make_provider, NODES, T0, T0 + 2 * DAY)
    reg_many, reg_one = CollectorRegistry(), CollectorRegistry()
    many_p = make_provider(None, registry=reg_many, lineage=lineage)
    one_p = make_provider(None, registry=reg_one, lineage=lineage)
    for start, end in [(T0, T0 + DAY), (T0, T0 + DAY), (T0, T0 + DAY), (T0 + HOUR, T0 + 2 * HOUR)]:
        many = many_p.read_many(NODES, "1m", start, end, strategy=Strategy.FAIL_FAST)
        assert list(many) == NODES
        for node in NODES:
            one = one_p.read(node, "1m", start, end, strategy=Strategy.FAIL_FAST)
            pd.testing.assert_frame_equal(many[node].df, one.df)
            assert _comparable(many[node].meta) == _comparable(one.meta)
            assert set(many[node].meta.sla_report.elapsed_ms) == set(one.meta.sla_report.elapsed_ms)
        assert _counts(reg_many) == _counts(reg_one)
    assert _counts(reg_many)[("seamless_cache_hits_total", ())] > 0


def test_batch_frames_are_the_callers_own(make_provider: MakeProvider) -> None:
    _store(make_provider, NODES[:3], T0, T0 + DAY)
    p = make_provider(None, registry=CollectorRegistry())
    for _ in range(2):  # the second read is admitted to the cache
        many = p.read_many(NODES[:3], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    before = {n: r.df.copy() for n, r in many.items()}
    many[NODES[0]].df.loc[0, "close"] = -1.0
    for node in NODES[1:3]:
        pd.testing.assert_frame_equal(many[node].df, before[node])
    again = p.read_many(NODES[:3], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    pd.testing.assert_frame_equal(again[NODES[0]].df, before[NODES[0]])  # cache untouched


def test_stored_nodes_are_read_in_a_few_statements(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seamless_sdk.stores import _sqlite

    _store(make_provider, NODES, T0, T0 + DAY)
    statements: list[str] = []
    real = _sqlite.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(_sqlite, "connect", connect)
    p = make_provider(None, registry=CollectorRegistry())
    p.coverage(NODES[0], "1m")
    statements.clear()
    many = p.read_many(NODES, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    assert all(len(r.df) == 1440 for r in many.values())
    # coverage of all, then BEGIN, coverage, row counts, chunks, ROLLBACK.
    assert len(statements) == 6, statements


def test_a_damaged_node_fails_alone_as_its_read_does(
    make_provider: MakeProvider, store_path: Path
) -> None:
    _store(make_provider, NODES[:4], T0, T0 + DAY)
    conn = sqlite3.connect(store_path)
    with conn:
        conn.execute("UPDATE chunks SET crc = crc + 1 WHERE node_id = ?", (NODES[2],))
    conn.close()
    p = make_provider(None, registry=CollectorRegistry())
    with pytest.raises(ReadManyError) as info:
        p.read_many(NODES[:4], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    assert set(info.value.errors) == {NODES[2]}
    with pytest.raises(StoreCorruptedError) as single:
        p.read(NODES[2], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    err = info.value.errors[NODES[2]]
    assert isinstance(err, StoreCorruptedError) and str(err) == str(single.value)
    for node in (NODES[0], NODES[1], NODES[3]):
        one = p.read(node, "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
        pd.testing.assert_frame_equal(info.value.results[node].df, one.df)


def test_gaps_strict_and_switches_walk(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nodes the batch cannot answer take the whole walk: a gap is filled (or
    raises under FAIL_FAST), strict reads check the calendar, a kill switch is
    noted per read; the answers equal per-node reads."""
    _store(make_provider, NODES[:2], T0, T0 + DAY)
    p = make_provider(SyntheticFetcher(seed=5), registry=CollectorRegistry())
    mixed = p.read_many(NODES[:4], "1m", T0, T0 + DAY, strategy=Strategy.AUTO_BACKFILL)
    assert all(len(r.df) == 1440 for r in mixed.values())
    assert mixed[NODES[3]].meta.source_contributions.keys() == {Source.BACKFILL}
    assert mixed[NODES[0]].meta.source_contributions.keys() == {Source.STORAGE}
    strict = p.read_many(NODES[:4], "1m", T0, T0 + DAY, strict=True, strategy=Strategy.FAIL_FAST)
    assert all(r.meta.strict for r in strict.values())
    monkeypatch.setenv(settings.FORCE_FAIL_FAST_ENV, "1")
    switched = p.read_many(NODES[:4], "1m", T0, T0 + DAY)
    for node, r in switched.items():
        one = p.read(node, "1m", T0, T0 + DAY)
        assert r.meta.notes == one.meta.notes and r.meta.notes


def test_aread_many_of_stored_nodes_equals_read_many(make_provider: MakeProvider) -> None:
    _store(make_provider, NODES[:4], T0, T0 + DAY)
    p = make_provider(None, registry=CollectorRegistry())
    sync = p.read_many(NODES[:4], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST)
    done = asyncio.run(p.aread_many(NODES[:4], "1m", T0, T0 + DAY, strategy=Strategy.FAIL_FAST))
    assert list(done) == NODES[:4]
    for node in NODES[:4]:
        pd.testing.assert_frame_equal(done[node].df, sync[node].df)
        assert _comparable(done[node].meta) == _comparable(sync[node].meta)
