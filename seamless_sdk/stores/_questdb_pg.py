"""The PostgreSQL-wire side of QuestDBStore: one persistent psycopg connection
that speaks the binary protocol.

QuestDB answers queries over the PostgreSQL wire protocol; it has no
multi-statement transactions, so the connection runs in autocommit mode. The
connection is opened on first use and kept for the store's lifetime (opening
one per query costs more than a small query); a query that finds it broken
(server restarted, idle connection dropped) opens a new one and runs once
more: every query here is a read or idempotent DDL, so running it again is safe.
One lock serialises the connection's users (a psycopg connection runs one
query at a time anyway).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

from seamless_sdk.errors import StoreError


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError("QuestDBStore needs psycopg 3: pip install 'seamless[questdb]'") from exc
    return psycopg


class PgConnection:
    """A lazily opened, persistent, binary-protocol connection to ``dsn``."""

    def __init__(self, dsn: str, *, connect_timeout_s: int = 10) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._conn: Any = None
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._timeout)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to QuestDB over PostgreSQL wire: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` with ``params`` bound (never formatted into the text)."""
        psycopg = _psycopg()
        with self._lock:
            if self._closed:
                raise StoreError("the QuestDB store is closed")
            for attempt in range(2):
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    with self._conn.cursor(binary=True) as cur:
                        cur.execute(sql, params)
                        return cur.fetchall() if cur.description is not None else []
                except psycopg.OperationalError as exc:
                    self._drop()
                    if attempt:
                        raise StoreError(f"QuestDB query failed: {exc}") from exc
                except psycopg.Error as exc:
                    raise StoreError(f"QuestDB query failed: {exc}") from exc
        raise AssertionError("unreachable: the loop returns or raises")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # A broken connection may fail to close; it is gone either way.
            with contextlib.suppress(Exception):
                conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the connection; later queries raise ``StoreError``."""
        with self._lock:
            self._closed = True
            self._drop()
