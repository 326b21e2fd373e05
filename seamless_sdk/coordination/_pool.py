"""A small pool of psycopg connections shared by a coordinator's threads.

Fill threads, waiters and the lease keeper each need a connection of their
own for the length of one short transaction; opening one per statement would
cost more than the statement. Connections are autocommit (every multi-
statement change runs inside an explicit ``conn.transaction()``), created on
demand and kept idle up to ``max_idle``. psycopg is imported here, on first
use, so importing ``seamless_sdk`` never needs it. Every psycopg error leaves
as ``CoordinatorError``, and a connection that saw one is dropped rather than
reused (its session may be broken). A connection whose session the server
ended (a restart, a failover, ``pg_terminate_backend``) takes every idle one
with it, as the store's pool does (``stores._pg.Pool``): the server most
likely ended theirs too, and each would otherwise fail one call in turn,
the lease keeper's renewals among them, until a live holder's lease ran out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from seamless_sdk.errors import CoordinatorError, SeamlessError

CONNECT_TIMEOUT_S = 10


class ConnectionPool:
    """Connections to ``dsn``; ``connection()`` lends one for a ``with`` block."""

    def __init__(self, dsn: str, *, max_idle: int = 8) -> None:
        self.dsn = dsn
        self._max_idle = max_idle
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """A connection for one unit of work; psycopg errors become ``CoordinatorError``."""
        try:
            import psycopg
        except ImportError as exc:  # an optional dependency: say which extra brings it
            raise CoordinatorError(
                "PostgresCoordinator needs psycopg 3: pip install 'seamless[postgres]'"
            ) from exc

        conn = self._take(psycopg)
        healthy = False
        try:
            yield conn
            healthy = True
        except psycopg.Error as exc:
            raise CoordinatorError(f"coordinator database error: {exc}") from exc
        except SeamlessError:
            # Raised by the caller on purpose (LeaseLostError inside a transaction
            # that rolled back): the session itself is fine.
            healthy = True
            raise
        finally:
            self._give_back(conn, healthy)

    def close(self) -> None:
        """Close idle connections; lent ones are closed when they come back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self, psycopg: Any) -> Any:
        with self._lock:
            if self._closed:
                raise CoordinatorError("the coordinator is closed")
            if self._idle:
                return self._idle.pop()
        try:
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise CoordinatorError(f"cannot connect to the coordinator database: {exc}") from exc

    def _give_back(self, conn: Any, healthy: bool) -> None:
        if healthy and not conn.closed and conn.info.transaction_status == 0:  # IDLE
            with self._lock:
                if not self._closed and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    return
        stale = []
        if conn.broken:
            with self._lock:
                stale, self._idle = self._idle, []
        conn.close()
        for other in stale:
            other.close()
