"""DISABLE_BACKFILL and FORCE_FAIL_FAST flipped while a provider serves reads:
backfills stop, reads downgrade, and what was written is whole windows only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import (
    DataUnavailableError,
    LocalStore,
    SeamlessDataProvider,
    Strategy,
    SyntheticFetcher,
    killswitch,
    settings,
)
from seamless_sdk.ranges import RangeSet

DAY = 86_400
T0 = 1_704_067_200  # 2024-01-01T00:00Z
DAYS = 6


class _SlowFetcher:
    """Synthetic 1m bars, ``delay_s`` per call, counting calls."""

    def __init__(self, delay_s: float) -> None:
        self._bars = SyntheticFetcher(seed=5)
        self._delay_s = delay_s
        self._lock = threading.Lock()
        self.calls = 0

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        with self._lock:
            self.calls += 1
        time.sleep(self._delay_s)
        return self._bars.fetch(node_id, interval, start, end)


@pytest.fixture(autouse=True)
def _switches_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.DISABLE_BACKFILL_ENV, raising=False)
    monkeypatch.delenv(settings.FORCE_FAIL_FAST_ENV, raising=False)
    monkeypatch.delenv(settings.KILL_SWITCH_FILE_ENV, raising=False)


def _provider(tmp_path: Path, fetcher: _SlowFetcher) -> SeamlessDataProvider:
    # One worker: windows are filled one after the other, so a flip lands between them.
    return SeamlessDataProvider(
        LocalStore(tmp_path / "bars.sqlite"), fetcher, registry=CollectorRegistry(), workers=1
    )


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[tuple[SeamlessDataProvider, _SlowFetcher]]:
    fetcher = _SlowFetcher(0.25)
    provider = _provider(tmp_path, fetcher)
    try:
        yield provider, fetcher
    finally:
        provider.close()


def _wait_calls(fetcher: _SlowFetcher, n: int) -> None:
    deadline = time.monotonic() + 10
    while fetcher.calls < n:
        assert time.monotonic() < deadline, "the fill never started"
        time.sleep(0.01)


def _whole_days(provider: SeamlessDataProvider) -> RangeSet:
    """The coverage, checked to be whole UTC days each holding all 1,440 bars."""
    coverage = provider.coverage("demo:K", "1m")
    for s, e in coverage:
        assert s % DAY == 0 and e % DAY == 0, coverage
    for s, e in coverage:
        frame = provider.read("demo:K", "1m", s, e, strategy=Strategy.FAIL_FAST).df
        assert len(frame) == (e - s) // 60
    assert provider.store.verify() == []  # type: ignore[attr-defined]
    return coverage


def test_disable_backfill_stops_a_background_fill_between_windows(
    slow: tuple[SeamlessDataProvider, _SlowFetcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, fetcher = slow
    end = T0 + DAYS * DAY
    first = provider.read("demo:K", "1m", T0, end, strategy=Strategy.PARTIAL_FILL)
    assert first.meta.missing.total() == DAYS * DAY  # detached: filled in the background
    _wait_calls(fetcher, 2)
    monkeypatch.setenv(settings.DISABLE_BACKFILL_ENV, "1")
    assert provider._inprocess.wait_idle(10)
    stopped_at = fetcher.calls
    # The window in flight finished; at most the next one started before the
    # flip was seen (a busy machine can delay this thread by a window or so).
    assert 2 <= stopped_at < DAYS
    coverage = _whole_days(provider)
    assert coverage.total() == stopped_at * DAY

    # Reads while the switch is on: nothing is fetched, nothing is queued.
    partial = provider.read("demo:K", "1m", T0, end)  # SEAMLESS
    assert partial.meta.missing == RangeSet.span(T0, end).subtract(coverage)
    assert any("DISABLE_BACKFILL" in note for note in partial.meta.notes)
    with pytest.raises(DataUnavailableError) as caught:
        provider.read("demo:K", "1m", T0, end, strategy=Strategy.AUTO_BACKFILL)
    assert caught.value.missing == RangeSet.span(T0, end).subtract(coverage)
    assert provider._inprocess.wait_idle(5)
    assert fetcher.calls == stopped_at

    # Switched off again: the same provider fills the rest.
    monkeypatch.setenv(settings.DISABLE_BACKFILL_ENV, "0")
    full = provider.read("demo:K", "1m", T0, end, strategy=Strategy.AUTO_BACKFILL)
    assert not full.meta.missing and len(full.df) == DAYS * 1440
    assert fetcher.calls == DAYS


def test_disable_backfill_mid_auto_backfill_raises_and_keeps_whole_windows(
    slow: tuple[SeamlessDataProvider, _SlowFetcher], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, fetcher = slow
    end = T0 + DAYS * DAY
    errors: list[BaseException] = []

    def read() -> None:
        try:
            provider.read("demo:K", "1m", T0, end, strategy=Strategy.AUTO_BACKFILL)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    _wait_calls(fetcher, 2)
    monkeypatch.setenv(settings.DISABLE_BACKFILL_ENV, "yes")
    reader.join(10)
    assert not reader.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], DataUnavailableError), errors
    assert "DISABLE_BACKFILL" in str(errors[0])
    coverage = _whole_days(provider)
    assert errors[0].missing == RangeSet.span(T0, end).subtract(coverage)  # type: ignore[attr-defined]
    assert 0 < coverage.total() < DAYS * DAY


def test_force_fail_fast_flips_reads_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = _SlowFetcher(0.0)
    with _provider(tmp_path, fetcher) as provider:
        provider.read("demo:K", "1m", T0, T0 + DAY)  # SEAMLESS fills one day
        assert fetcher.calls == 1
        monkeypatch.setenv(settings.FORCE_FAIL_FAST_ENV, "on")
        stored = provider.read("demo:K", "1m", T0, T0 + DAY)
        assert stored.meta.strategy is Strategy.FAIL_FAST
        assert any("FORCE_FAIL_FAST" in note for note in stored.meta.notes)
        assert len(stored.df) == 1440
        with pytest.raises(DataUnavailableError):
            provider.read("demo:K", "1m", T0, T0 + 2 * DAY, strategy=Strategy.AUTO_BACKFILL)
        with pytest.raises(DataUnavailableError):
            provider.read("demo:K", "1m", T0 + DAY, T0 + 2 * DAY, strategy=Strategy.PARTIAL_FILL)
        assert provider._inprocess.wait_idle(5)
        assert fetcher.calls == 1
        monkeypatch.setenv(settings.FORCE_FAIL_FAST_ENV, "off")
        again = provider.read("demo:K", "1m", T0, T0 + 2 * DAY)
        assert again.meta.strategy is Strategy.SEAMLESS and not again.meta.missing
        assert fetcher.calls == 2


@pytest.mark.parametrize(
    ("value", "on"),
    [(None, False), ("", False), ("0", False), ("off", False), ("No", False), ("1", True),
     ("true", True), ("please", True)],
)  # fmt: skip
def test_switch_values(monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool) -> None:
    """Anything but an explicit false turns a switch on: a typo must not leave
    backfills running."""
    for name in (settings.DISABLE_BACKFILL_ENV, settings.FORCE_FAIL_FAST_ENV):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert settings.backfill_disabled() is on
    assert settings.force_fail_fast() is on


def test_a_switch_file_reaches_a_running_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The operator's way in from outside the process: write the file, and the
    provider obeys within FILE_TTL_S; delete it and fills resume."""
    switch_file = tmp_path / "switches"
    monkeypatch.setenv(settings.KILL_SWITCH_FILE_ENV, str(switch_file))
    fetcher = _SlowFetcher(0.0)
    with _provider(tmp_path, fetcher) as provider:
        provider.read("demo:K", "1m", T0, T0 + DAY)
        assert fetcher.calls == 1
        switch_file.write_text("# stop fills while the vendor is down\ndisable_backfill\nPAUSE\n")
        with caplog.at_level("WARNING", logger="seamless"):
            time.sleep(killswitch.FILE_TTL_S + 0.1)
            partial = provider.read("demo:K", "1m", T0, T0 + 2 * DAY)
        assert partial.meta.missing == RangeSet.span(T0 + DAY, T0 + 2 * DAY)
        assert "unknown switches ['PAUSE']" in caplog.text
        assert provider._inprocess.wait_idle(5)
        assert fetcher.calls == 1
        switch_file.unlink()
        time.sleep(killswitch.FILE_TTL_S + 0.1)
        full = provider.read("demo:K", "1m", T0, T0 + 2 * DAY)
        assert not full.meta.missing
        assert fetcher.calls == 2
