"""fill_window and the provider with a coordinator in place of the store's lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import SeamlessDataProvider, Strategy
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.coordination import JobKey, JobState, PostgresCoordinator
from seamless_sdk.errors import BackfillDeferredError, FetchError, InvalidRequestError
from seamless_sdk.fetchers import SyntheticFetcher
from seamless_sdk.intervals import parse_interval
from seamless_sdk.metrics import Metrics
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.base import WindowWrite
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01, a chunk boundary of 1m bars
M1 = parse_interval("1m")
ONE_TRY = FillPolicy(max_attempts=1, retry_backoff_ms=0, jitter_ratio=0)
NOW = T0 + 30 * DAY


class Failing:
    """A fetcher that raises ``times`` times, then serves synthetic bars."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.calls: list[tuple[int, int]] = []
        self._bars = SyntheticFetcher(seed=3)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        self.calls.append((start, end))
        if self.left:
            self.left -= 1
            raise RuntimeError("upstream 503")
        return self._bars.fetch(node_id, interval, start, end)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LocalStore]:
    with LocalStore(tmp_path / "bars.sqlite") as s:
        yield s


@pytest.fixture
def coord(dsn: str) -> Iterator[PostgresCoordinator]:
    with PostgresCoordinator(dsn, lease_s=5, backoff_base_s=30, max_failures=2) as c:
        yield c


def _fill(store: LocalStore, fetcher: Any, start: int, end: int, coord: Any, **kw: Any) -> Any:
    return fill_window(
        store, fetcher, "demo:A", M1, start, end, policy=ONE_TRY, now=NOW, coordinator=coord, **kw
    )


def test_a_fill_claims_each_chunk_and_completes_it(
    store: LocalStore, coord: PostgresCoordinator
) -> None:
    fetcher = SyntheticFetcher(seed=3)
    registry = CollectorRegistry()
    result = _fill(store, fetcher, T0 + 600, T0 + DAY + 600, coord, metrics=Metrics(registry))
    assert result.fetched == RangeSet([(T0 + 600, T0 + DAY + 600)])
    assert result.rows == 1440 and store.coverage("demo:A", M1) == result.fetched
    assert [c[2:] for c in fetcher.calls] == [(T0 + 600, T0 + DAY), (T0 + DAY, T0 + DAY + 600)]
    jobs = coord.jobs()
    assert [j.key for j in jobs] == [
        JobKey("demo:A", "1m", T0, T0 + DAY),
        JobKey("demo:A", "1m", T0 + DAY, T0 + 2 * DAY),
    ]  # canonical whole-chunk windows, whatever part of them was missing
    assert all(j.state is JobState.SUCCEEDED for j in jobs)
    assert jobs[0].completed == RangeSet([(T0 + 600, T0 + DAY)])
    # Each piece bumps the version once (progress) and the completion once more.
    assert coord.coverage_version("demo:A", M1) == 4
    labels = {"node_id": "demo:A", "interval": "1m", "lease_key": str(jobs[1].key)}
    assert registry.get_sample_value("backfill_completion_ratio", labels) == 1.0
    # Covered now: a second fill neither fetches nor touches the job rows.
    again = _fill(store, fetcher, T0 + 600, T0 + DAY + 600, coord)
    assert again.skipped and len(fetcher.calls) == 2
    assert coord.coverage_version("demo:A", M1) == 4


def test_threads_that_miss_one_window_fetch_it_once(
    store: LocalStore, coord: PostgresCoordinator
) -> None:
    fetcher = SyntheticFetcher(seed=3, delay_s=0.3)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def read() -> None:
        barrier.wait()
        try:
            _fill(store, fetcher, T0, T0 + DAY, coord)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert [c[2:] for c in fetcher.calls] == [(T0, T0 + DAY)]
    assert store.coverage("demo:A", M1) == RangeSet([(T0, T0 + DAY)])


def test_a_failing_fetch_fails_the_job_and_the_next_fill_is_deferred(
    store: LocalStore, coord: PostgresCoordinator
) -> None:
    fetcher = Failing(times=5)
    with pytest.raises(FetchError) as first:
        _fill(store, fetcher, T0, T0 + DAY, coord)
    assert not isinstance(first.value, BackfillDeferredError)
    record = coord.job(JobKey.for_chunk("demo:A", M1, T0))
    assert record is not None and record.state is JobState.FAILED and record.attempts == 1
    assert "upstream 503" in (record.last_error or "")
    with pytest.raises(BackfillDeferredError) as deferred:
        _fill(store, fetcher, T0, T0 + DAY, coord)
    assert deferred.value.reason == "backoff" and deferred.value.retry_at is not None
    assert deferred.value.retry_at > time.time() + 20  # backoff_base_s=30
    assert len(fetcher.calls) == 1  # the deferred fill did not call the source
    assert store.coverage("demo:A", M1) == RangeSet()


def test_a_quarantined_window_is_deferred_until_retried(
    store: LocalStore, coord: PostgresCoordinator, dsn: str
) -> None:
    key = JobKey.for_chunk("demo:A", M1, T0)
    fetcher = Failing(times=2)
    for _ in range(2):
        with pytest.raises(FetchError):
            _fill(store, fetcher, T0, T0 + DAY, coord)
        with psycopg.connect(dsn, autocommit=True) as conn:  # skip the 30 s backoff
            conn.execute("UPDATE backfill_jobs SET next_attempt_at = clock_timestamp()")
    assert [r.key for r in coord.quarantined()] == [key]
    with pytest.raises(BackfillDeferredError) as info:
        _fill(store, fetcher, T0, T0 + DAY, coord)
    assert info.value.reason == "quarantined"
    coord.retry(key)
    result = _fill(store, fetcher, T0, T0 + DAY, coord)
    assert result.rows == 1440 and len(fetcher.calls) == 3
    coord.skip(key)  # a finished window can be skipped too: nothing claims it any more
    store.remove_coverage("demo:A", M1, RangeSet([(T0, T0 + DAY)]))
    with pytest.raises(BackfillDeferredError, match="skipped"):
        _fill(store, fetcher, T0, T0 + DAY, coord)


def test_a_holder_that_lost_its_lease_writes_nothing_and_waits_for_the_new_one(
    store: LocalStore, dsn: str
) -> None:
    """While the first fetch runs, an operator (here: SQL) hands the window to a
    phantom holder with a short lease. The first holder must not write; it waits
    for the phantom's lease to run out, then claims again and fetches once more."""
    with PostgresCoordinator(dsn, lease_s=0.3) as coord:
        base = SyntheticFetcher(seed=3)
        calls: list[int] = []
        writes: list[tuple[int, int]] = []

        class Hijacked:
            def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
                calls.append(start)
                if len(calls) == 1:
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute(
                            "UPDATE backfill_jobs SET lease_token = gen_random_uuid(),"
                            " holder = 'phantom',"
                            " lease_until = clock_timestamp() + interval '0.5 seconds'"
                        )
                    time.sleep(0.25)  # the keeper's next renewal finds the token gone
                return base.fetch(node_id, interval, start, end)

        original = store.write_many

        def counting_write(batch: Sequence[WindowWrite]) -> None:
            writes.extend((w.start, w.end) for w in batch)
            original(batch)

        store.write_many = counting_write  # type: ignore[method-assign]
        result = _fill(store, Hijacked(), T0, T0 + DAY, coord)
        assert calls == [T0, T0] and writes == [(T0, T0 + DAY)]
        assert result.rows == 1440
        record = coord.job(JobKey.for_chunk("demo:A", M1, T0))
        assert record is not None and record.state is JobState.SUCCEEDED


def test_cancel_stops_a_waiter(store: LocalStore, coord: PostgresCoordinator) -> None:
    key = JobKey.for_chunk("demo:A", M1, T0)
    coord.claim(key, 0, key.span)  # another holder, alive for lease_s=5
    cancel = threading.Event()
    threading.Timer(0.1, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="cancelled"):
        _fill(store, SyntheticFetcher(seed=3), T0, T0 + DAY, coord, cancel=cancel)
    assert time.monotonic() - t0 < 2


def test_the_provider_fills_through_its_coordinator_and_closes_it(tmp_path: Path, dsn: str) -> None:
    coord = PostgresCoordinator(dsn)
    fetcher = SyntheticFetcher(seed=3)
    with SeamlessDataProvider(
        store=LocalStore(tmp_path / "bars.sqlite"),
        fetcher=fetcher,
        strategy=Strategy.AUTO_BACKFILL,
        registry=CollectorRegistry(),
        coordinator=coord,
    ) as provider:
        assert provider.coordinator is coord
        result = provider.read("demo:A", "1m", T0, T0 + DAY)
        assert len(result.df) == 1440 and not result.meta.missing
        assert [j.state for j in coord.jobs()] == [JobState.SUCCEEDED]
    assert coord._closed  # closed with the provider, like its store
    with pytest.raises(InvalidRequestError) as info:
        SeamlessDataProvider(store=LocalStore(tmp_path / "other.sqlite"), coordinator=object())  # type: ignore[arg-type]
    assert info.value.field == "coordinator"


def test_a_deferred_window_makes_a_seamless_read_partial(tmp_path: Path, dsn: str) -> None:
    coord = PostgresCoordinator(dsn, backoff_base_s=60)
    with SeamlessDataProvider(
        store=LocalStore(tmp_path / "bars.sqlite"),
        fetcher=Failing(times=10),
        registry=CollectorRegistry(),
        coordinator=coord,
    ) as provider:
        first = provider.read("demo:A", "1m", T0, T0 + 600)
        assert first.meta.missing == RangeSet([(T0, T0 + 600)])
        second = provider.read("demo:A", "1m", T0, T0 + 600)
        assert second.meta.missing == RangeSet([(T0, T0 + 600)])
        assert any("backoff" in note for note in second.meta.notes), second.meta.notes


def test_a_postgres_store_brings_its_own_coordinator(dsn: str, tmp_path: Path) -> None:
    postgres = pytest.importorskip("seamless_sdk.stores.postgres")
    fetcher = SyntheticFetcher(seed=3)
    with SeamlessDataProvider(
        store=postgres.PostgresStore(dsn),
        fetcher=fetcher,
        strategy=Strategy.AUTO_BACKFILL,
        registry=CollectorRegistry(),
    ) as provider:
        assert isinstance(provider.coordinator, PostgresCoordinator)
        assert provider.coordinator.dsn == dsn
        assert len(provider.read("demo:A", "1m", T0, T0 + 600).df) == 10
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT state FROM backfill_jobs").fetchall()
    assert rows == [("SUCCEEDED",)]  # the job row lives in the store's database
    with SeamlessDataProvider(store=LocalStore(tmp_path / "bars.sqlite")) as local:
        assert local.coordinator is None  # LocalStore keeps its per-host flock


def test_an_unreachable_coordinator_fails_the_read_as_a_store_error(tmp_path: Path) -> None:
    from seamless_sdk.errors import CoordinatorError, StoreError

    fetcher = SyntheticFetcher(seed=3)
    with SeamlessDataProvider(
        store=LocalStore(tmp_path / "bars.sqlite"),
        fetcher=fetcher,
        registry=CollectorRegistry(),
        coordinator=PostgresCoordinator("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"),
    ) as provider:
        with pytest.raises(CoordinatorError) as info:
            provider.read("demo:A", "1m", T0, T0 + 600)
        assert isinstance(info.value, StoreError)
        assert fetcher.calls == []  # nothing is fetched without a claim
        assert provider.coverage("demo:A", "1m") == RangeSet()
