"""SLA budgets are enforced by cancelling the wait, not checked afterwards."""

from __future__ import annotations

import threading
import time

import pytest

from seamless_sdk import RangeSet, SeamlessSLAExceeded, SLAPolicy, Strategy

from .conftest import HOUR, T0, MakeProvider


class HangingFetcher:
    """Blocks until released (or 5 s), like an upstream API that stopped answering."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
        self.calls += 1
        self.release.wait(5)
        import pandas as pd

        return pd.DataFrame(
            {"ts": [], "open": [], "high": [], "low": [], "close": [], "volume": []}
        )


def test_seamless_returns_partial_at_the_deadline(make_provider: MakeProvider) -> None:
    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)
    t0 = time.perf_counter()
    res = p.read("demo:S", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=300))
    elapsed = time.perf_counter() - t0
    fetcher.release.set()
    assert 0.25 < elapsed < 1.0
    assert res.meta.sla_report.violation == "total"
    assert res.meta.missing == RangeSet([(T0, T0 + HOUR)])
    assert res.meta.backfill.detached == RangeSet([(T0, T0 + HOUR)])
    assert res.meta.sla_report.timeouts == 1
    assert res.meta.sla_report.budgets_ms["total"] == 300


def test_auto_backfill_raises_naming_the_phase(make_provider: MakeProvider) -> None:
    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)
    t0 = time.perf_counter()
    with pytest.raises(SeamlessSLAExceeded) as info:
        p.read(
            "demo:S",
            "1m",
            T0,
            T0 + HOUR,
            strategy=Strategy.AUTO_BACKFILL,
            sla=SLAPolicy(total_deadline_ms=2000, max_wait_backfill_ms=200),
        )
    fetcher.release.set()
    assert time.perf_counter() - t0 < 1.0
    assert info.value.phase == "backfill"
    assert info.value.budget_ms == 200
    assert info.value.elapsed_ms >= 150
    assert info.value.report.violation == "backfill"


def test_fetches_that_hang_for_one_node_do_not_starve_the_others(
    make_provider: MakeProvider,
) -> None:
    # Windows whose reads gave up on them kept every worker thread, so each
    # later read of a healthy node waited out its whole budget for a thread.
    from seamless_sdk import SyntheticFetcher

    healthy = SyntheticFetcher(seed=1)
    release = threading.Event()

    class Selective:
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            if node_id.startswith("bad:"):
                release.wait(10)
            return healthy.fetch(node_id, interval, start, end)

    p = make_provider(Selective(), workers=2, close_timeout_s=0.1)
    try:
        for i in range(3):
            res = p.read(f"bad:{i}", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=100))
            assert res.meta.sla_report.violation == "total"
        for i in range(3):
            t0 = time.perf_counter()
            res = p.read(f"good:{i}", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=3000))
            assert res.meta.missing == RangeSet(), res.meta.notes
            assert time.perf_counter() - t0 < 1.5
    finally:
        release.set()


def test_close_cancels_a_coroutine_fetch_that_hangs(make_provider: MakeProvider) -> None:
    # close() waited its whole close_timeout_s for it, and its thread outlived it.
    import asyncio

    class HangsAsync:
        async def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            await asyncio.Event().wait()
            raise AssertionError("never released")

    before = {t.name for t in threading.enumerate()}
    p = make_provider(HangsAsync(), close_timeout_s=5.0)
    for i in range(3):
        p.read(f"demo:H{i}", "1m", T0, T0 + HOUR, sla=SLAPolicy(total_deadline_ms=100))
    t0 = time.perf_counter()
    p.close()
    assert time.perf_counter() - t0 < 1.0
    deadline = time.monotonic() + 2
    while {t.name for t in threading.enumerate()} - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert {t.name for t in threading.enumerate()} - before == set()


def test_async_read_deadline(make_provider: MakeProvider) -> None:
    import asyncio

    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)

    async def main() -> float:
        t0 = time.perf_counter()
        with pytest.raises(SeamlessSLAExceeded) as info:
            await p.aread(
                "demo:S",
                "1m",
                T0,
                T0 + HOUR,
                strategy=Strategy.AUTO_BACKFILL,
                sla=SLAPolicy(total_deadline_ms=300),
            )
        assert info.value.phase == "total"
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    fetcher.release.set()
    assert elapsed < 1.0


def test_sla_policy_rejects_bad_values() -> None:
    from seamless_sdk import InvalidRequestError

    with pytest.raises(InvalidRequestError) as info:
        SLAPolicy(total_deadline_ms=-1)
    assert info.value.field == "sla.total_deadline_ms"


def test_a_read_that_raises_over_budget_still_records_its_phases(
    make_provider: MakeProvider, registry: object
) -> None:
    # Only answering reads reached seamless_sla_deadline_seconds: exactly the
    # AUTO_BACKFILL reads that ran over budget were missing from it.
    fetcher = HangingFetcher()
    p = make_provider(fetcher, close_timeout_s=0.1)
    with pytest.raises(SeamlessSLAExceeded):
        p.read(
            "demo:SL",
            "1m",
            T0,
            T0 + HOUR,
            strategy=Strategy.AUTO_BACKFILL,
            sla=SLAPolicy(total_deadline_ms=150),
        )
    fetcher.release.set()
    sample = registry.get_sample_value  # type: ignore[attr-defined]
    labels = {"node_id": "demo:SL"}
    assert sample("seamless_sla_deadline_seconds_count", {**labels, "phase": "total"}) == 1
    assert sample("seamless_sla_deadline_seconds_count", {**labels, "phase": "backfill"}) == 1
    assert sample("seamless_sla_violation_total", {"phase": "total"}) == 1


def test_a_read_over_two_budgets_is_one_violation(
    make_provider: MakeProvider, registry: object
) -> None:
    # The backfill wait runs out first, then the live wait runs into the total.
    fetcher, live = HangingFetcher(), HangingFetcher()
    now = T0 + HOUR + 30  # the bar at T0 + HOUR is forming: asked of live=
    p = make_provider(fetcher, live=live, close_timeout_s=0.1, clock=lambda: now)
    res = p.read(
        "demo:SV",
        "1m",
        T0,
        T0 + HOUR + 60,
        sla=SLAPolicy(max_wait_backfill_ms=100, total_deadline_ms=250),
    )
    fetcher.release.set()
    live.release.set()
    assert res.meta.sla_report.elapsed_ms["live"] > 100
    assert res.meta.sla_report.violation == "backfill"
    sample = registry.get_sample_value  # type: ignore[attr-defined]
    counted = [
        sample("seamless_sla_violation_total", {"phase": ph}) or 0 for ph in ("backfill", "total")
    ]
    assert counted == [1, 0]


def test_retries_of_a_window_that_failed_are_counted(make_provider: MakeProvider) -> None:
    class Failing:
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            raise ConnectionError("upstream 503")

    p = make_provider(Failing())
    res = p.read(
        "demo:SR",
        "1m",
        T0,
        T0 + HOUR,
        sla=SLAPolicy(max_attempts=3, retry_backoff_ms=1, jitter_ratio=0),
    )
    assert res.meta.missing == RangeSet([(T0, T0 + HOUR)])
    assert res.meta.sla_report.retries == 2


def test_a_live_source_that_hangs_holds_a_bounded_number_of_threads(
    make_provider: MakeProvider,
) -> None:
    # Each SEAMLESS read started a thread of its own for the forming bar; with
    # a source that hangs, every read left one more behind.
    from seamless_sdk import SyntheticFetcher
    from seamless_sdk.live.edge import MAX_LIVE_FETCHES

    live = HangingFetcher()
    now = T0 + HOUR + 30
    p = make_provider(SyntheticFetcher(seed=1), live=live, clock=lambda: now, close_timeout_s=0.1)

    def live_threads() -> int:
        return sum(t.name == "seamless-live" for t in threading.enumerate())

    before = live_threads()
    try:
        for _ in range(3):  # one bar asked three times: one fetch
            p.read("demo:L0", "1m", T0, T0 + HOUR + 60, sla=SLAPolicy(max_wait_live_ms=50))
        assert live_threads() - before == 1 and live.calls == 1
        notes: list[str] = []
        for i in range(1, 2 * MAX_LIVE_FETCHES):
            res = p.read(f"demo:L{i}", "1m", T0, T0 + HOUR + 60, sla=SLAPolicy(max_wait_live_ms=50))
            assert res.meta.missing == RangeSet([(T0 + HOUR, T0 + HOUR + 60)])
            notes.extend(res.meta.notes)
        assert live_threads() - before == MAX_LIVE_FETCHES
        assert any("live source busy" in n for n in notes)
    finally:
        live.release.set()


def test_a_live_fetch_failing_after_its_async_read_was_cancelled_logs_nothing(
    make_provider: MakeProvider,
) -> None:
    # asyncio logged "Future exception was never retrieved" for the failure:
    # nobody awaited the wrapper the cancelled read had waited on.
    import asyncio
    import gc

    from seamless_sdk import SyntheticFetcher

    started, release = threading.Semaphore(0), threading.Event()

    class FailsLate:
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            started.release()
            release.wait(5)
            raise ConnectionError("feed dropped")

    now = T0 + HOUR + 30  # the bar at T0 + HOUR is forming: asked of live=
    p = make_provider(SyntheticFetcher(seed=1), live=FailsLate(), clock=lambda: now)
    p.read_many(["demo:AC", "demo:AM"], "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    unhandled: list[dict[str, object]] = []

    async def cancel_both() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unhandled.append(ctx))
        reads = [
            lambda: p.aread("demo:AC", "1m", T0, T0 + HOUR + 60),
            lambda: p.aread_many(["demo:AM"], "1m", T0, T0 + HOUR + 60),
        ]
        for read in reads:
            task = asyncio.ensure_future(read())
            assert await asyncio.to_thread(started.acquire, timeout=5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        release.set()
        deadline = time.monotonic() + 5
        while any(t.name == "seamless-live" for t in threading.enumerate()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        for _ in range(3):  # the wrappers' callbacks run, then they are collected
            await asyncio.sleep(0.01)
            gc.collect()

    asyncio.run(cancel_both())
    assert [ctx["message"] for ctx in unhandled] == []


@pytest.mark.parametrize("strategy", [Strategy.AUTO_BACKFILL, Strategy.SEAMLESS])
def test_a_total_that_runs_out_while_the_answer_is_built(
    make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch, strategy: Strategy
) -> None:
    # Checked before the answer was built, the total ran out while it was: an
    # AUTO_BACKFILL read returned the late answer with a violation, not raised.
    from seamless_sdk import SyntheticFetcher, answer

    class SlowSummary(answer.QualitySummary):  # building the answer takes 80 ms
        def __init__(self, *args: object) -> None:
            time.sleep(0.08)
            super().__init__(*args)

    p = make_provider(SyntheticFetcher(seed=1))
    p.read("demo:TB", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)  # stored
    monkeypatch.setattr(answer, "QualitySummary", SlowSummary)
    sla = SLAPolicy(total_deadline_ms=50)
    if strategy is Strategy.AUTO_BACKFILL:
        with pytest.raises(SeamlessSLAExceeded) as info:
            p.read("demo:TB", "1m", T0, T0 + HOUR, strategy=strategy, sla=sla)
        assert info.value.phase == "total"
    else:
        res = p.read("demo:TB", "1m", T0, T0 + HOUR, strategy=strategy, sla=sla)
        assert res.meta.sla_report.violation == "total" and len(res.df) == 60
        assert any("while the answer was built" in n for n in res.meta.notes)


@pytest.mark.parametrize("strategy", [Strategy.SEAMLESS, Strategy.AUTO_BACKFILL])
def test_retries_of_a_fill_the_deadline_cut_short_are_counted(
    make_provider: MakeProvider, strategy: Strategy
) -> None:
    # Retries were counted only once a window finished: a read that stopped
    # waiting on a window still retrying reported none.
    class FlakyThenHangs(HangingFetcher):
        def fetch(self, node_id: str, interval: str, start: int, end: int) -> object:
            if self.calls < 3:
                self.calls += 1
                raise ConnectionError("upstream 503")
            return super().fetch(node_id, interval, start, end)

    fetcher = FlakyThenHangs()
    p = make_provider(fetcher, close_timeout_s=0.1)
    sla = SLAPolicy(total_deadline_ms=300, max_attempts=5, retry_backoff_ms=10, jitter_ratio=0)
    try:
        if strategy is Strategy.AUTO_BACKFILL:
            with pytest.raises(SeamlessSLAExceeded) as info:
                p.read("demo:RC", "1m", T0, T0 + HOUR, strategy=strategy, sla=sla)
            report = info.value.report
        else:
            res = p.read("demo:RC", "1m", T0, T0 + HOUR, strategy=strategy, sla=sla)
            report = res.meta.sla_report
    finally:
        fetcher.release.set()
    assert fetcher.calls == 4 and report.retries == 3
