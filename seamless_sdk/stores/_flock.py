"""The host-local chunk lock of LocalStore's and QuestDBStore's ``window_lock``.

A lock file per (node, interval, chunk) under the store's lock directory,
named by a hash of the key, locked with ``flock`` on a freshly opened
descriptor: two opens conflict even inside one process, and the kernel drops
the lock when its holder dies. It is per host: hosts that share one server
need ``PostgresCoordinator`` for single flight between them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from seamless_sdk import tracing
from seamless_sdk.errors import StoreError
from seamless_sdk.metrics import lock_contended

_POLL_S = 0.005
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC

# Lock files open in this process: fd -> the pid that opened it. An flock
# belongs to the open file, and a forked child shares it (O_CLOEXEC only covers
# exec): a child still running after its parent died would keep the lock. So a
# child closes its copies at once, and never unlocks what its parent holds.
_OPEN: dict[int, int] = {}


def _close_inherited() -> None:
    for fd in list(_OPEN):
        with contextlib.suppress(OSError):
            os.close(fd)
    _OPEN.clear()


os.register_at_fork(after_in_child=_close_inherited)


@contextmanager
def chunk_lock(
    folder: Path, node_id: str, interval_s: int, chunk_start: int, timeout: float | None
) -> Iterator[None]:
    """Hold the exclusive lock of one chunk (arguments already validated)."""
    key = f"{node_id}\0{interval_s}\0{chunk_start}".encode()
    digest = hashlib.sha256(key).hexdigest()[:40]
    folder = folder / digest[:2]  # keeps directories small for many series
    path = folder / f"{digest}.lock"
    try:
        try:
            fd = os.open(path, _OPEN_FLAGS, 0o644)
        except FileNotFoundError:  # the folder's first lock (mkdir only then: a fill takes many)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, _OPEN_FLAGS, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot open the lock file for {node_id}: {exc}") from exc
    pid = os.getpid()
    _OPEN[fd] = pid
    try:
        with tracing.timed_lock(
            "chunk", node_id=node_id, start=chunk_start, interval_s=interval_s, timeout_s=timeout
        ) as span:
            span.set(contended=_flock(fd, timeout, node_id, chunk_start))
        try:
            yield
        finally:
            if _OPEN.get(fd) == pid:  # in a forked child it is the parent's lock
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        if _OPEN.get(fd) == pid:
            del _OPEN[fd]
            os.close(fd)


def _flock(fd: int, timeout: float | None, node_id: str, cs: int) -> bool:
    """Take the lock; True when another holder made this wait (contention)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        # Held by another fill: that is the contention seed 003 asks to count.
        lock_contended("chunk")
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreError(
                    f"window lock of {node_id} chunk {cs} not acquired in {timeout} s"
                ) from None
            time.sleep(_POLL_S)
