"""psycopg for the PostgreSQL store: loading it, a small connection pool, errors.

psycopg is an optional dependency: :func:`psycopg_module` imports it on first
use, so the SDK core never needs it. Connections are persistent (opening one
costs more than most queries) and kept in a :class:`Pool` shared by threads.
:class:`AdvisoryLocks` holds cross-host locks (PostgresStore's and, given a
lock DSN, QuestDBStore's).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from seamless_sdk import tracing
from seamless_sdk.errors import StoreError, StoreUnavailableError
from seamless_sdk.stores._pg_sql import LOCK, SET_LOCK_TIMEOUT, TRY_LOCK, UNLOCK

_log = logging.getLogger("seamless")

if TYPE_CHECKING:
    import psycopg

_CONNECT_TIMEOUT_S = 10
_POOL_WAIT_S = 60.0
# Connections a forked child inherited: using or closing them there would talk
# on the parent's sockets (closing sends the server a Terminate for the
# parent's session), so the child keeps them referenced, untouched, for life.
_inherited: list[Any] = []


def psycopg_module() -> ModuleType:
    """``psycopg`` (version 3), or ``StoreError`` saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError(
            "PostgresStore needs psycopg 3: pip install 'psycopg[binary]>=3.2'"
        ) from exc
    return psycopg


def describe_dsn(dsn: str) -> str:
    """``dsn`` without its password, for messages: ``postgresql://user@host:port/db``."""
    psycopg = psycopg_module()
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql://<unparsable DSN>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def wrap(exc: Exception, what: str) -> StoreError:
    """A psycopg error as the StoreError to raise: a lost or refused connection
    is ``StoreUnavailableError`` (worth retrying later), anything else plain."""
    psycopg = psycopg_module()
    if isinstance(exc, StoreError):
        return exc
    message = f"{what} failed: {type(exc).__name__}: {exc}".rstrip()
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailableError(message)
    return StoreError(message)


class Pool:
    """Up to ``size`` open connections (autocommit, binary-friendly), lent to one
    thread at a time.

    A connection comes back to the idle list only if it is healthy and idle;
    a broken one (server restarted, network cut) is dropped with every idle
    one and the next caller gets a fresh one, so the store heals after an
    outage. ``keep`` caps the idle connections kept open; ``size=None`` never
    makes a caller wait (the lock pool: every held lock needs a connection of
    its own). ``configure`` is called on every new connection (adapters,
    settings).
    """

    def __init__(
        self,
        dsn: str,
        where: str,
        *,
        size: int | None,
        keep: int,
        configure: Callable[[psycopg.Connection[Any]], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._configure = configure
        self._where = where
        self._size = size
        self._keep = keep
        self._idle: list[psycopg.Connection[Any]] = []
        self._lent: set[psycopg.Connection[Any]] = set()
        self._cond = threading.Condition()
        self._pid = os.getpid()
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError(f"the store at {self._where} is closed")

    def _forked(self) -> None:
        # Called with the condition held, in a child of the process that opened
        # the connections: forget them without touching them.
        _inherited.extend(self._idle)
        _inherited.extend(self._lent)
        self._idle.clear()
        self._lent.clear()
        self._pid = os.getpid()

    def _take(self) -> psycopg.Connection[Any] | None:
        """An idle connection, or ``None``: the caller may open a new one."""
        deadline = time.monotonic() + _POOL_WAIT_S
        with self._cond:
            while True:
                self._check_open()
                if self._pid != os.getpid():
                    self._forked()
                if self._idle:
                    conn = self._idle.pop()
                    self._lent.add(conn)
                    return conn
                if self._size is None or len(self._lent) < self._size:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreUnavailableError(
                        f"no free connection to {self._where} in {_POOL_WAIT_S:g} s"
                    )
                self._cond.wait(left)

    def _open(self) -> psycopg.Connection[Any]:
        psycopg = psycopg_module()
        try:
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=_CONNECT_TIMEOUT_S,
                application_name="seamless",
            )
        except psycopg.Error as exc:
            raise wrap(exc, f"connecting to {self._where}") from exc
        if self._configure is not None:
            self._configure(conn)
        with self._cond:
            if self.closed:
                conn.close()
                self._check_open()
            self._lent.add(conn)
        return conn

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        psycopg = psycopg_module()
        idle = psycopg.pq.TransactionStatus.IDLE
        stale: list[psycopg.Connection[Any]] = []
        with self._cond:
            if self._pid != os.getpid():
                return  # a forked child returning a parent's connection: never touch it
            self._lent.discard(conn)
            if conn.closed or conn.broken:
                # The server dropped it, and most likely every session with it (a
                # restart, an operator's pg_terminate_backend): the idle ones go
                # too, so the next caller (and _fetch's retry) opens a fresh one
                # rather than fail on each dead connection in turn.
                stale, self._idle = self._idle, []
            healthy = not conn.closed and conn.info.transaction_status == idle
            keep = healthy and not self.closed and len(self._idle) < self._keep
            if keep:
                self._idle.append(conn)
            self._cond.notify()
        if not keep:
            conn.close()
        for dead in stale:
            dead.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """Lend a connection for the ``with`` block (``StoreError`` once closed)."""
        conn = self._take()
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def close(self) -> None:
        """Close the idle connections now and the lent ones as they come back;
        every later :meth:`connection` raises ``StoreError``."""
        with self._cond:
            self.closed = True
            if self._pid != os.getpid():
                self._forked()
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for conn in idle:
            conn.close()


def zero_copy_bytea(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` return binary ``bytea`` values as read-only memoryviews of
    libpq's result buffer instead of copying each into ``bytes``: a read copies
    chunk bytes once, into the answer. A view keeps its result alive."""
    psycopg = psycopg_module()

    class MemoryViewLoader(psycopg.adapt.Loader):  # type: ignore[misc,name-defined]
        format = psycopg.pq.Format.BINARY

        def load(self, data: Any) -> memoryview:
            # psycopg's C core hands a loader a memoryview over the result; the
            # pure-Python core may hand bytes, which a view wraps without a copy.
            return data if isinstance(data, memoryview) else memoryview(data)

    conn.adapters.register_loader("bytea", MemoryViewLoader)


# -- advisory locks ------------------------------------------------------------


def advisory_key(*parts: object) -> int:
    """A signed 64-bit advisory lock key, the same on every host (not ``hash()``)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class HeldLock:
    """An advisory lock while :meth:`AdvisoryLocks.hold` holds it."""

    def __init__(self, conn: psycopg.Connection[Any], what: str) -> None:
        self._conn = conn
        self.what = what

    def check(self) -> None:
        """``StoreError`` unless the lock's session is alive, so the lock is still
        ours (the server drops a session's locks with it)."""
        psycopg = psycopg_module()
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise StoreError(
                f"{self.what} was lost while held: its database session ended "
                f"({' '.join(str(exc).split())}); nothing more was done under it"
            ) from exc


class AdvisoryLocks:
    """Exclusive locks that span hosts: PostgreSQL session advisory locks, each
    held on a connection of its own.

    A connection per held lock means two holders conflict even inside one
    process (a session may re-take its own advisory lock), and the server
    drops a lock when its holder's session ends, so a killed process never
    leaves one behind. Connections are opened on demand (``size=None``: a
    caller never waits for a connection, only for the lock) and a couple kept
    idle for the next lock. Used by ``PostgresStore.window_lock`` and, given a
    ``lock_dsn``, by QuestDBStore's window and coverage locks.
    """

    def __init__(self, dsn: str, where: str) -> None:
        self._pool = Pool(dsn, where, size=None, keep=2)

    @contextmanager
    def hold(self, key: int, timeout: float | None, what: str) -> Iterator[HeldLock]:
        """Hold the lock ``key`` for the block. Not re-entrant. With ``timeout``
        (seconds) a lock not had in time raises ``StoreError`` naming ``what``;
        a lost server is ``StoreUnavailableError``.

        The server drops the lock if the holder's session ends while the block
        runs (a restart, ``pg_terminate_backend``), and another holder may then
        take it: :meth:`HeldLock.check` says so before work that must be
        exclusive, and a lock found lost at the end is logged as a warning.
        """
        psycopg = psycopg_module()
        with self._pool.connection() as conn:
            try:
                with tracing.timed_lock("advisory", what=what, timeout_s=timeout):
                    self._lock(conn, key, timeout, what)
            except psycopg.Error as exc:
                raise wrap(exc, what) from exc
            try:
                yield HeldLock(conn, what)
            finally:
                try:
                    conn.execute(UNLOCK, (key,))
                except psycopg.Error as exc:
                    # The session is gone, and the server dropped its locks with
                    # it; the connection is discarded when it is given back.
                    conn.close()
                    _log.warning(
                        "%s was lost while held (its database session ended: %s); "
                        "another holder may have run at the same time",
                        what,
                        " ".join(str(exc).split()),
                    )

    @staticmethod
    def _lock(conn: psycopg.Connection[Any], key: int, timeout: float | None, what: str) -> None:
        if timeout is None:
            conn.execute(LOCK, (key,))
            return
        if timeout < 0.001:  # lock_timeout 0 would mean "wait forever": just try
            row = conn.execute(TRY_LOCK, (key,)).fetchone()
            if row is None or not row[0]:
                raise StoreError(f"{what} not acquired in {timeout} s")
            return
        psycopg = psycopg_module()
        conn.execute(SET_LOCK_TIMEOUT, (f"{int(timeout * 1000)}ms",))
        try:
            conn.execute(LOCK, (key,))
        except psycopg.errors.LockNotAvailable:
            raise StoreError(f"{what} not acquired in {timeout} s") from None
        finally:
            conn.execute(SET_LOCK_TIMEOUT, ("0",))

    def close(self) -> None:
        """Close the idle lock connections; every later :meth:`hold` raises ``StoreError``."""
        self._pool.close()
