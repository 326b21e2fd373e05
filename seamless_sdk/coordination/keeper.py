"""The lease keeper: one background thread that renews every lease a process holds.

A fetch may take longer than a lease (a slow upstream API, a year of 1s
bars). Rather than sizing leases for the worst case, which would leave a
killed holder's window idle for that long, leases are short and renewed every
``lease_s / 3`` while the fill runs. One thread per coordinator serves every
lease, so a process holding fifty windows does not run fifty heartbeat
threads. A renewal that finds the token changed (the lease expired during a
stall and another host re-claimed the window) marks the lease lost; the fill
checks that before it writes, so a stale holder stops instead of writing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType

from seamless_sdk.coordination.base import Lease
from seamless_sdk.errors import CoordinatorError, LeaseLostError

_log = logging.getLogger("seamless.coordination")


class Held:
    """One lease the keeper renews; a context manager (leaving it stops renewal)."""

    def __init__(self, keeper: LeaseKeeper, lease: Lease) -> None:
        self.lease = lease
        self._keeper = keeper
        self._lost: LeaseLostError | None = None
        self.renewals = 0

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def check(self) -> None:
        """Raise ``LeaseLostError`` if a renewal found the lease taken over."""
        if self._lost is not None:
            raise self._lost

    def __enter__(self) -> Held:
        self._keeper._add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._keeper._remove(self)


class LeaseKeeper:
    """Renews held leases every ``period_s`` with ``renew`` (raises ``LeaseLostError``
    for a lost lease, ``CoordinatorError`` when the database is unreachable)."""

    def __init__(self, renew: Callable[[Lease], float], period_s: float) -> None:
        self._renew = renew
        self._period_s = period_s
        self._cond = threading.Condition()
        self._held: dict[str, Held] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def hold(self, lease: Lease) -> Held:
        """Renew ``lease`` while the returned context is entered."""
        return Held(self, lease)

    def close(self) -> None:
        """Stop the thread (leases still held simply stop being renewed)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _add(self, held: Held) -> None:
        with self._cond:
            if self._closed:
                raise CoordinatorError("the coordinator is closed")
            self._held[held.lease.token] = held
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="seamless-lease-keeper", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _remove(self, held: Held) -> None:
        with self._cond:
            self._held.pop(held.lease.token, None)

    def _run(self) -> None:
        next_at = time.monotonic() + self._period_s
        while True:
            with self._cond:
                while not self._closed and (not self._held or time.monotonic() < next_at):
                    if not self._held:
                        self._cond.wait()
                        # A first lease arrived: its renewal is due a period from now.
                        next_at = time.monotonic() + self._period_s
                    else:
                        self._cond.wait(max(0.0, next_at - time.monotonic()))
                if self._closed:
                    return
                due = list(self._held.values())
            next_at = time.monotonic() + self._period_s
            for held in due:
                if held.lost:
                    continue
                try:
                    self._renew(held.lease)
                    held.renewals += 1
                except LeaseLostError as exc:
                    held._lost = exc
                except CoordinatorError:
                    # The database hiccupped: try again next period; if it stays away
                    # the lease runs out and the fill's progress/complete reports it.
                    _log.warning("renewing lease %s failed", held.lease.key, exc_info=True)
