"""QuestDBStore's locks across hosts: ``lock_dsn`` makes them PostgreSQL advisory locks.

The locks need no QuestDB server (the store connects to QuestDB only when it
reads or writes), so these tests run here on the suite's real PostgreSQL.
Each "host" is a process with its own lock directory: ``flock`` files there
could never exclude the other host, the advisory lock must.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import pytest

from seamless_sdk.errors import InvalidRequestError, StoreError
from seamless_sdk.intervals import parse_interval
from seamless_sdk.stores.questdb import QuestDBStore

M1 = parse_interval("1m")
DAY0 = 1_735_689_600
ILP = "http::addr=127.0.0.1:1;"  # never reached: locks do not talk to QuestDB
PG = "postgresql://127.0.0.1:1/qdb"


def _store(lock_dir: Path, lock_dsn: str | None) -> QuestDBStore:
    return QuestDBStore(ILP, PG, table_prefix="locks", lock_dir=lock_dir, lock_dsn=lock_dsn)


def _hold(lock_dir: str, dsn: str, held: mp.Event) -> None:  # type: ignore[type-arg]
    """A host that takes the window lock, says so, and keeps it until it is killed.

    It sleeps rather than waits on an Event: a process killed inside
    ``Event.wait`` leaves the Event's condition broken for everyone else."""
    store = _store(Path(lock_dir), dsn)
    with store.window_lock("demo:A", M1, DAY0):
        held.set()
        time.sleep(120)
    store.close()


def _try(lock_dir: str, dsn: str, timeout: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    """Another host: try the same lock for ``timeout`` s; report whether it got it."""
    store = _store(Path(lock_dir), dsn)
    t0 = time.monotonic()
    try:
        with store.window_lock("demo:A", M1, DAY0, timeout=timeout):
            out.put(("acquired", time.monotonic() - t0))
    except StoreError as exc:
        out.put(("refused", str(exc)))
    finally:
        store.close()


def test_hosts_exclude_each_other_and_a_killed_holder_frees_the_lock(
    postgres_dsn: str, tmp_path: Path
) -> None:
    ctx = mp.get_context("spawn")
    held, out = ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "h1"), postgres_dsn, held))
    holder.start()
    try:
        assert held.wait(60), "the first host never took the lock"
        other = ctx.Process(target=_try, args=(str(tmp_path / "h2"), postgres_dsn, 0.3, out))
        other.start()
        kind, detail = out.get(timeout=60)
        other.join(60)
        assert kind == "refused" and "window lock of demo:A" in detail, detail

        # The holder dies without unlocking: its session ends, the server drops the lock.
        os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
        holder.join(30)
        waiter = ctx.Process(target=_try, args=(str(tmp_path / "h2"), postgres_dsn, 30.0, out))
        waiter.start()
        kind, waited = out.get(timeout=60)
        waiter.join(60)
        assert kind == "acquired", waited
    finally:
        if holder.is_alive():
            holder.kill()
        holder.join(10)


def test_with_lock_dsn_two_lock_dirs_share_locks_and_without_they_do_not(
    postgres_dsn: str, tmp_path: Path
) -> None:
    """In one process, two stores as two hosts would build them: distinct lock
    directories. With the DSN their window and coverage locks conflict; other
    chunks, series and lock kinds do not."""
    a, b = _store(tmp_path / "a", postgres_dsn), _store(tmp_path / "b", postgres_dsn)
    try:
        with a.window_lock("demo:A", M1, DAY0):
            with (
                pytest.raises(StoreError, match="not acquired"),
                b.window_lock("demo:A", M1, DAY0, timeout=0.05),
            ):
                pass
            with (
                pytest.raises(StoreError, match="not acquired"),
                b.window_lock("demo:A", M1, DAY0, timeout=0),
            ):
                pass
            with b.window_lock("demo:A", M1, DAY0 + 86_400, timeout=0.05):
                pass
            with b.window_lock("demo:B", M1, DAY0, timeout=0.05):
                pass
        with b.window_lock("demo:A", M1, DAY0, timeout=0.05):
            pass  # released by a
        # The per-series coverage lock is shared as well, and is not the window lock.
        with a._lock("coverage", "demo:A", M1.seconds, 0, None):
            with (
                pytest.raises(StoreError, match="coverage lock"),
                b._lock("coverage", "demo:A", M1.seconds, 0, 0.05),
            ):
                pass
            with b.window_lock("demo:A", M1, DAY0, timeout=0.05):
                pass
    finally:
        a.close()
        b.close()
    with pytest.raises(StoreError, match="closed"), a.window_lock("demo:A", M1, DAY0):
        pass

    local_a, local_b = _store(tmp_path / "a", None), _store(tmp_path / "b", None)
    try:
        with (
            local_a.window_lock("demo:A", M1, DAY0),
            local_b.window_lock("demo:A", M1, DAY0, timeout=0.05),
        ):
            pass  # flock files in two directories: per host, as documented
    finally:
        local_a.close()
        local_b.close()


def test_a_pickled_store_keeps_its_lock_dsn(postgres_dsn: str, tmp_path: Path) -> None:
    import pickle

    store = _store(tmp_path / "a", postgres_dsn)
    copy = pickle.loads(pickle.dumps(store))
    try:
        with (
            store.window_lock("demo:A", M1, DAY0),
            pytest.raises(StoreError, match="not acquired"),
            copy.window_lock("demo:A", M1, DAY0, timeout=0.05),
        ):
            pass
    finally:
        store.close()
        copy.close()


def test_a_blank_lock_dsn_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as info:
        _store(tmp_path, " ")
    assert info.value.field == "lock_dsn"
