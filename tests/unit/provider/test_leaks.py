"""No leaks without ``close()`` (issue 9, item 8).

50 providers dropped without ``close()`` used to keep two fill threads and two
file descriptors each, forever. Idle workers exit, and a provider that is
collected releases its store and its backfiller.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy, SyntheticFetcher

from .conftest import HOUR, T0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _settled(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gc.collect()
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def _use_and_drop(path: Path, i: int) -> None:
    provider = SeamlessDataProvider(
        LocalStore(path), SyntheticFetcher(seed=i), registry=CollectorRegistry()
    )
    provider.read(f"leak:{i}", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
    provider.read(f"leak:{i}", "1m", T0 + HOUR, T0 + 2 * HOUR, strategy=Strategy.PARTIAL_FILL)


def test_dropped_providers_release_threads_and_files(tmp_path: Path) -> None:
    baseline_threads = threading.active_count()
    _use_and_drop(tmp_path / "warm.sqlite", 0)  # imports and first-use caches
    assert _settled(lambda: threading.active_count() <= baseline_threads)
    baseline_fds = _fds()
    for i in range(50):
        _use_and_drop(tmp_path / f"p{i}.sqlite", i)
    assert _settled(lambda: threading.active_count() <= baseline_threads), (
        f"{threading.active_count()} threads alive, {baseline_threads} before"
    )
    assert _settled(lambda: _fds() <= baseline_fds + 2), f"{_fds()} fds, {baseline_fds} before"


def test_idle_workers_exit_and_come_back(tmp_path: Path) -> None:
    with SeamlessDataProvider(
        LocalStore(tmp_path / "idle.sqlite"),
        SyntheticFetcher(seed=1),
        registry=CollectorRegistry(),
    ) as provider:
        executor = provider._executor
        provider.read("idle:A", "1m", T0, T0 + HOUR, strategy=Strategy.AUTO_BACKFILL)
        assert executor.threads >= 1
        assert _settled(lambda: executor.threads == 0, 10)
        res = provider.read("idle:A", "1m", T0 + HOUR, T0 + 2 * HOUR, strategy="auto_backfill")
        assert len(res.df) == 60
