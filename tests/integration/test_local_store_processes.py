"""LocalStore shared by real processes: readers never see a half-written write,
and window locks exclude each other across processes.

Workers are started with the ``spawn`` method (fresh interpreters, as Dagster's
multiprocess executor and separate strategy processes are) and report back
through a queue; every test joins or kills what it started.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from seamless_sdk.errors import StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.ranges import RangeSet
from seamless_sdk.stores.local import LocalStore

DAY = 86_400
D0 = 19_723 * DAY  # 2024-01-01
NODE = "demo:BTCUSDT"
OTHER = "demo:ETHUSDT"
WINDOW = (D0, D0 + 3 * DAY)  # rewritten whole, version after version
EXTRA_DAYS = 30  # days after WINDOW, each rewritten in turn as a new version
WRITE_SECONDS = 3.0
CTX = mp.get_context("spawn")

pytestmark = pytest.mark.slow


def version_frame(start: int, end: int, version: int) -> pd.DataFrame:
    """Bars of ``version``: every row has volume == version, and odd versions
    have a bar every minute, even ones every two minutes, so chunk sizes change
    from one version to the next."""
    step = 60 if version % 2 else 120
    ts = np.arange(start, end, step, dtype=np.int64)
    price = np.full(len(ts), 100.0 + version)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime(ts, unit="s", utc=True).as_unit("ns"),
            "open": price,
            "high": price + 1,
            "low": price - 1,
            "close": price,
            "volume": np.full(len(ts), float(version)),
            "flags": np.zeros(len(ts), dtype=np.int32),
        }
    )


def _writer(path: str, node: str, started: Any, done: Any, out: Any) -> None:
    try:
        iv = parse_interval("1m")
        with LocalStore(path) as store:
            started.wait(60)
            k = 0
            deadline = time.monotonic() + WRITE_SECONDS
            while time.monotonic() < deadline:
                k += 1
                store.write(node, iv, *WINDOW, version_frame(*WINDOW, k))
                day = WINDOW[1] + (k % EXTRA_DAYS) * DAY
                store.write(node, iv, day, day + DAY, version_frame(day, day + DAY, k))
        out.put((node, k, None))
    except BaseException:
        out.put((node, 0, traceback.format_exc()))
    finally:
        done.set()


def _check_whole(frame: pd.DataFrame, start: int, end: int) -> int:
    """Assert ``frame`` (the rows of ``[start, end)``) is one complete version;
    return it (0 when empty)."""
    if frame.empty:
        return 0
    versions = frame["volume"].unique()
    assert len(versions) == 1, f"mixed versions {versions} in [{start}, {end})"
    k = int(versions[0])
    step = 60 if k % 2 else 120
    first = -(-start // step) * step
    expected = np.arange(first, end, step, dtype=np.int64) * 1_000_000_000
    got = frame["ts"].to_numpy(dtype="int64")
    assert np.array_equal(got, expected), f"version {k} incomplete in [{start}, {end})"
    assert (frame["open"] == 100.0 + k).all()
    return k


def _reader(path: str, seed: int, started: Any, done: Any, out: Any) -> None:
    try:
        iv = parse_interval("1m")
        rng = np.random.default_rng(seed)
        reads, seen, last = 0, set(), 0
        span_end = WINDOW[1] + EXTRA_DAYS * DAY
        with LocalStore(path) as store:
            started.wait(60)
            while not done.is_set():
                # The whole span: the window is one version, each extra day one version.
                frame = store.read(NODE, iv, WINDOW[0], span_end)
                cover = store.coverage(NODE, iv)  # only grows in this test
                ts = frame["ts"].to_numpy(dtype="int64") // 1_000_000_000
                for s, e in [WINDOW] + [(d, d + DAY) for d in range(WINDOW[1], span_end, DAY)]:
                    part = frame[(ts >= s) & (ts < e)]
                    k = _check_whole(part, s, e)
                    assert k == 0 or cover.covers(s, e), f"bars in [{s}, {e}) not covered"
                    if (s, e) == WINDOW:
                        assert k >= last, f"went back from version {last} to {k}"
                        last = k
                        seen.add(k)
                # A random slice of the window, often across a chunk boundary.
                s = WINDOW[0] + int(rng.integers(0, 3 * 1440)) * 60
                e = min(WINDOW[1], s + int(rng.integers(1, 2 * 1440)) * 60)
                k = _check_whole(store.read(NODE, iv, s, e), s, e)
                assert k == 0 or k >= last
                reads += 2
        out.put((f"reader{seed}", (reads, len(seen)), None))
    except BaseException:
        out.put((f"reader{seed}", (0, 0), traceback.format_exc()))


def _collect(procs: list[Any], out: Any, timeout: float) -> dict[str, Any]:
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(results) < len(procs):
            name, value, error = out.get(timeout=max(0.1, deadline - time.monotonic()))
            assert error is None, f"{name} failed:\n{error}"
            results[name] = value
        for p in procs:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            assert p.exitcode == 0, f"{p.name} exit code {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    return results


def test_readers_never_see_a_partial_write(tmp_path: Path) -> None:
    """Two writer processes (one per node, so they queue on SQLite's write lock
    and must wait, not fail) and two readers of the first node."""
    path = str(tmp_path / "bars.sqlite")
    LocalStore(path).close()  # create the file once, before the race
    started, done, other_done, out = CTX.Event(), CTX.Event(), CTX.Event(), CTX.Queue()
    procs = [
        CTX.Process(target=_writer, args=(path, node, started, event, out), name=node)
        for node, event in ((NODE, done), (OTHER, other_done))
    ]
    procs += [
        CTX.Process(target=_reader, args=(path, seed, started, done, out), name=f"reader{seed}")
        for seed in (1, 2)
    ]
    for p in procs:
        p.start()
    started.set()
    results = _collect(procs, out, timeout=120)
    assert results[NODE] > 20 and results[OTHER] > 20, results
    for seed in (1, 2):
        reads, versions = results[f"reader{seed}"]
        assert reads > 20 and versions >= 3, results
    # Afterwards the store holds exactly each writer's last version, covered.
    with LocalStore(path) as store:
        for node in (NODE, OTHER):
            assert _check_whole(store.read(node, "1m", *WINDOW), *WINDOW) == results[node]
            span = RangeSet([(WINDOW[0], WINDOW[1] + EXTRA_DAYS * DAY)])
            assert store.coverage(node, "1m") == span


# -- provider reads while another process removes and re-writes -------------------
def _remover(path: str, started: Any, done: Any, out: Any) -> None:
    """What `seamless store repair` then a refill do, over and over: coverage
    removed (bars with it), then the day written again."""
    try:
        day = RangeSet([(D0, D0 + DAY)])
        with LocalStore(path) as store:
            started.wait(60)
            k = 0
            deadline = time.monotonic() + WRITE_SECONDS
            while time.monotonic() < deadline:
                k += 1
                store.remove_coverage(NODE, "1m", day)
                store.write(NODE, "1m", D0, D0 + DAY, version_frame(D0, D0 + DAY, 2 * k + 1))
        out.put(("remover", k, None))
    except BaseException:
        out.put(("remover", 0, traceback.format_exc()))
    finally:
        done.set()


def test_provider_reads_never_straddle_another_process_remove(tmp_path: Path) -> None:
    """Each answer is the whole day of one version or DataUnavailableError: a
    read that took coverage and bars from different snapshots answered 0 rows
    with nothing missing (and cached that)."""
    from seamless_sdk import DataUnavailableError, ReadManyError, SeamlessDataProvider, Strategy

    path = str(tmp_path / "bars.sqlite")
    with LocalStore(path) as store:
        store.write(NODE, "1m", D0, D0 + DAY, version_frame(D0, D0 + DAY, 1))
    started, done, out = CTX.Event(), CTX.Event(), CTX.Queue()
    proc = CTX.Process(target=_remover, args=(path, started, done, out), name="remover")
    proc.start()
    whole = unavailable = 0
    providers = [
        SeamlessDataProvider(store=LocalStore(path), strategy=Strategy.FAIL_FAST, **kw)
        for kw in ({"source_priority": ("storage",)}, {"cache_ttl_s": 0.001})
    ]
    try:
        started.set()
        while not done.is_set():
            for p in providers:
                try:
                    frames = [p.read(NODE, "1m", D0, D0 + DAY).df]
                    frames += [r.df for r in p.read_many([NODE], "1m", D0, D0 + DAY).values()]
                except (DataUnavailableError, ReadManyError) as exc:
                    errors = exc.errors.values() if isinstance(exc, ReadManyError) else [exc]
                    assert all(isinstance(e, DataUnavailableError) for e in errors), errors
                    unavailable += 1
                    continue
                for frame in frames:
                    assert _check_whole(frame, D0, D0 + DAY) % 2 == 1, "torn: rows missing"
                    whole += 1
    finally:
        for p in providers:
            p.close()
        results = _collect([proc], out, timeout=60)
    assert results["remover"] > 20 and whole > 20 and unavailable > 0, (results, whole)


# -- window locks across processes ----------------------------------------------
ROUNDS = 25


def _contender(path: str, counter: str, name: str, barrier: Any, out: Any) -> None:
    try:
        spans = []
        with LocalStore(path) as store:
            barrier.wait(60)
            for _ in range(ROUNDS):
                with store.window_lock(NODE, "1m", D0):
                    entered = time.monotonic_ns()
                    # A read-modify-write that loses updates unless the lock excludes.
                    value = int(Path(counter).read_text())
                    time.sleep(0.002)
                    Path(counter).write_text(str(value + 1))
                    spans.append((entered, time.monotonic_ns()))
        out.put((name, spans, None))
    except BaseException:
        out.put((name, [], traceback.format_exc()))


def test_window_lock_excludes_other_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "bars.sqlite")
    counter = tmp_path / "counter"
    counter.write_text("0")
    barrier, out = CTX.Barrier(4), CTX.Queue()
    procs = [
        CTX.Process(target=_contender, args=(path, str(counter), f"p{i}", barrier, out))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    results = _collect(procs, out, timeout=120)
    assert int(counter.read_text()) == 4 * ROUNDS
    spans = sorted(span for value in results.values() for span in value)
    assert len(spans) == 4 * ROUNDS
    for (_, prev_exit), (enter, _) in itertools.pairwise(spans):
        assert enter >= prev_exit, "two processes held the same window lock at once"


def _die_holding(path: str, held: Any) -> None:
    store = LocalStore(path)
    with store.window_lock(NODE, "1m", D0):
        held.set()
        time.sleep(60)  # killed long before this ends


def test_window_lock_is_released_when_its_holder_dies(tmp_path: Path) -> None:
    path = str(tmp_path / "bars.sqlite")
    held = CTX.Event()
    proc = CTX.Process(target=_die_holding, args=(path, held))
    proc.start()
    try:
        assert held.wait(60), "the holder never took the lock"
        with LocalStore(path) as store:
            with (
                pytest.raises(StoreError, match="not acquired"),
                store.window_lock(NODE, "1m", D0, timeout=0.2),
            ):
                pass
            os.kill(proc.pid, 9)
            proc.join(10)
            with store.window_lock(NODE, "1m", D0, timeout=5):
                pass
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)


def _open_new(path: str, start: Any, results: Any) -> None:
    try:
        start.wait(30)
        LocalStore(path).close()
        results.put("ok")
    except BaseException:  # reported to the test, which fails with it
        results.put(traceback.format_exc())


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    # A process opening the file while another was creating it read a half
    # written header, or the schema before its application id, and refused
    # the store as foreign (3 rounds in 15 of six processes, before).
    for round_ in range(10):
        path = str(tmp_path / f"new{round_}" / "bars.sqlite")
        start, results = CTX.Barrier(6), CTX.Queue()
        workers = [CTX.Process(target=_open_new, args=(path, start, results)) for _ in range(6)]
        for worker in workers:
            worker.start()
        try:
            outcomes = [results.get(timeout=60) for _ in workers]
        finally:
            for worker in workers:
                worker.join(30)
                if worker.is_alive():
                    worker.kill()
        assert outcomes == ["ok"] * 6, next(o for o in outcomes if o != "ok")
        with LocalStore(path) as store:
            assert store.verify() == []
        leftovers = [p.name for p in Path(path).parent.iterdir() if p.name.endswith(".new")]
        assert leftovers == []
