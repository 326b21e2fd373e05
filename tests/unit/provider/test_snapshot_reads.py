"""Coverage and bars from one snapshot: another process's ``remove_coverage``
committed while a read is under way never yields a frame that the metadata
calls covered but that lacks the bars.

The read used to take coverage in one query and the bars in the next; a
remove committed in between gave 0 rows with ``missing == []`` (and cached
that answer). Here a second handle on the same file stands for the other
process (``seamless store repair``, a reprocess) and commits the remove at
the moment the old code was exposed; ``tests/integration/
test_local_store_processes.py`` races real processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    DataUnavailableError,
    LocalStore,
    RangeSet,
    ReadManyError,
    SeamlessDataProvider,
    Strategy,
    SyntheticFetcher,
)
from seamless_sdk.intervals import Interval, parse_interval
from seamless_sdk.stores.base import CoveredBars, read_covered

from .conftest import DAY, T0

M1 = parse_interval("1m")
DAY_1 = RangeSet.span(T0, T0 + DAY)


def _filled(path: Path, nodes: Sequence[str]) -> None:
    """A day of 1m bars of each node, stored by a fill as a read would."""
    fill = SeamlessDataProvider(
        store=LocalStore(path), fetcher=SyntheticFetcher(seed=3), registry=CollectorRegistry()
    )
    with fill:
        for node in nodes:
            fill.ensure_available(node, "1m", T0, T0 + DAY)


class RemovedAfterCoverage(LocalStore):
    """A LocalStore after whose first answer about coverage (alone, or with the
    bars) another handle commits a ``remove_coverage`` of the nodes asked."""

    other: LocalStore
    armed = True

    def _remove(self, nodes: Sequence[str]) -> None:
        if self.armed:
            self.armed = False
            for node in nodes:
                self.other.remove_coverage(node, M1, DAY_1)

    def coverage(self, node_id: str, interval: Interval | str) -> RangeSet:
        answer = super().coverage(node_id, interval)
        self._remove([node_id])
        return answer

    def coverage_many(self, node_ids: Sequence[str], *args: Any, **kw: Any) -> dict[str, RangeSet]:
        answer = super().coverage_many(node_ids, *args, **kw)
        self._remove(list(node_ids))
        return answer

    def read_covered_many(
        self, node_ids: Sequence[str], *args: Any, **kw: Any
    ) -> dict[str, CoveredBars]:
        answer = super().read_covered_many(node_ids, *args, **kw)
        self._remove(list(node_ids))
        return answer


def _whole_or_unavailable(read: Any) -> None:
    """The answer is the whole day, or DataUnavailableError for it: never rows
    missing from a window the metadata calls covered."""
    try:
        result = read()
    except DataUnavailableError as exc:
        assert exc.missing == DAY_1
    else:
        assert len(result.df) == 1440 and not result.meta.missing


@pytest.fixture
def racing(store_path: Path, registry: CollectorRegistry) -> Any:
    made: list[Any] = []

    def make(nodes: Sequence[str], **kwargs: Any) -> SeamlessDataProvider:
        _filled(store_path, nodes)
        store = RemovedAfterCoverage(store_path)
        store.other = LocalStore(store_path)
        provider = SeamlessDataProvider(store=store, registry=registry, **kwargs)
        made.append((provider, store.other))
        return provider

    yield make
    for provider, other in made:
        provider.close()
        other.close()


@pytest.mark.parametrize("cache", [False, True], ids=["storage-only", "with-cache"])
def test_a_read_never_answers_covered_without_the_bars(racing: Any, cache: bool) -> None:
    prio = ("cache", "storage") if cache else ("storage",)
    p = racing(["demo:A"], strategy=Strategy.FAIL_FAST, source_priority=prio)
    _whole_or_unavailable(lambda: p.read("demo:A", "1m", T0, T0 + DAY))
    # And nothing torn was cached: the next read is whole (a cached answer
    # is allowed its bounded staleness) or finds the day gone.
    _whole_or_unavailable(lambda: p.read("demo:A", "1m", T0, T0 + DAY))
    if not cache:
        with pytest.raises(DataUnavailableError):
            p.read("demo:A", "1m", T0, T0 + DAY)


def test_read_many_never_answers_covered_without_the_bars(racing: Any) -> None:
    nodes = ["demo:A", "demo:B", "demo:C"]
    p = racing(nodes, strategy=Strategy.FAIL_FAST, source_priority=("storage",))
    try:
        results = p.read_many(nodes, "1m", T0, T0 + DAY)
        errors: dict[str, BaseException] = {}
    except ReadManyError as exc:
        results, errors = exc.results, exc.errors
    for node in nodes:
        if node in results:
            assert len(results[node].df) == 1440 and not results[node].meta.missing, node
        else:
            assert isinstance(errors[node], DataUnavailableError), errors[node]
    assert errors, "the remove committed after the batch's coverage query was not seen"


class CallsOnly:
    """A store with the BarStore calls alone (no batch or snapshot reads), whose
    ``read`` lets another handle remove the coverage just before it reads."""

    def __init__(self, path: Path) -> None:
        self.inner = LocalStore(path)
        self.other = LocalStore(path)

    def coverage(self, node_id: str, interval: Interval) -> RangeSet:
        return self.inner.coverage(node_id, interval)

    def read(self, node_id: str, interval: Interval, start: int, end: int) -> pd.DataFrame:
        self.other.remove_coverage(node_id, interval, DAY_1)
        return self.inner.read(node_id, interval, start, end)

    def write(self, *args: Any, **kwargs: Any) -> None:
        self.inner.write(*args, **kwargs)

    def write_many(self, writes: Any) -> None:
        self.inner.write_many(writes)

    def remove_coverage(self, node_id: str, interval: Interval, ranges: RangeSet) -> None:
        self.inner.remove_coverage(node_id, interval, ranges)

    def series(self) -> list[tuple[str, str]]:
        return self.inner.series()

    def window_lock(
        self, node_id: str, interval: Interval, chunk_start: int
    ) -> AbstractContextManager[None]:
        return self.inner.window_lock(node_id, interval, chunk_start)

    def close(self) -> None:
        self.inner.close()
        self.other.close()


def test_a_store_without_snapshot_reads_keeps_what_coverage_vouched_for_after(
    store_path: Path,
) -> None:
    _filled(store_path, ["demo:A"])
    store = CallsOnly(store_path)
    try:
        got = read_covered(store, "demo:A", M1, T0, T0 + DAY)  # type: ignore[arg-type]
        assert got.coverage == RangeSet() and len(got.bars) == 0
    finally:
        store.close()


def test_local_store_answers_coverage_and_bars_of_one_snapshot(store_path: Path) -> None:
    _filled(store_path, ["demo:A", "demo:B"])
    with LocalStore(store_path) as store:
        store.remove_coverage("demo:B", M1, RangeSet.span(T0 + 3600, T0 + 7200))
        got = store.read_covered_many(["demo:A", "demo:B", "demo:none"], M1, T0 + 60, T0 + DAY)
        assert got["demo:A"].coverage == RangeSet.span(T0 + 60, T0 + DAY)
        assert len(got["demo:A"].bars) == 1439
        cover_b = RangeSet([(T0 + 60, T0 + 3600), (T0 + 7200, T0 + DAY)])
        assert got["demo:B"].coverage == cover_b
        assert len(got["demo:B"].bars) == 1439 - 60
        assert got["demo:none"].coverage == RangeSet() and len(got["demo:none"].bars) == 0
        empty = store.read_covered_many(["demo:A"], M1, T0 + DAY, T0)
        assert empty["demo:A"].coverage == RangeSet() and len(empty["demo:A"].bars) == 0
