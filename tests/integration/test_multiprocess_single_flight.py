"""Four processes that miss the same range on one LocalStore file fetch each
window once and store no bar twice (invariants 2 and 3)."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from seamless_sdk import LocalStore, RangeSet, SeamlessDataProvider, Strategy, parse_interval
from seamless_sdk.fetchers import SyntheticFetcher

T0 = 1_704_067_200
DAY = 86_400


class LoggingFetcher(SyntheticFetcher):
    """Appends every call to a shared file, so calls from all processes can be counted."""

    def __init__(self, log: str) -> None:
        super().__init__(seed=11, delay_s=0.3)
        self.log = log

    def fetch(self, node_id: str, interval: str, start: int, end: int):  # type: ignore[no-untyped-def]
        with open(self.log, "a") as fh:
            fh.write(json.dumps([node_id, interval, start, end]) + "\n")
        return super().fetch(node_id, interval, start, end)


def _reader(store: str, log: str, barrier) -> None:  # type: ignore[no-untyped-def]
    from prometheus_client import CollectorRegistry

    provider = SeamlessDataProvider(
        store=LocalStore(store),
        fetcher=LoggingFetcher(log),
        strategy=Strategy.AUTO_BACKFILL,
        registry=CollectorRegistry(),
    )
    barrier.wait()
    with provider:
        result = provider.read("demo:MP", "1m", T0, T0 + 3 * DAY)
        assert len(result.df) == 3 * 1440 and not result.meta.missing


def test_four_processes_one_fetch_per_window(tmp_path: Path) -> None:
    store, log = str(tmp_path / "bars.sqlite"), str(tmp_path / "calls.jsonl")
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_reader, args=(store, log, barrier)) for _ in range(4)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(120)
        assert [proc.exitcode for proc in procs] == [0, 0, 0, 0]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    calls = [tuple(json.loads(line)[2:]) for line in Path(log).read_text().splitlines()]
    assert sorted(calls) == [(T0 + i * DAY, T0 + (i + 1) * DAY) for i in range(3)]
    local = LocalStore(store)
    try:
        iv = parse_interval("1m")
        bars = local.read("demo:MP", iv, T0, T0 + 3 * DAY)
        assert len(bars) == 3 * 1440 and bars["ts"].is_unique
        assert local.coverage("demo:MP", iv) == RangeSet([(T0, T0 + 3 * DAY)])
    finally:
        local.close()
