"""The stores the contract suite runs on: ``store_factory`` is parametrized over
``local``, ``postgres`` and ``questdb``.

A :class:`StoreFactory` opens any number of handles on ONE store (the same
SQLite file, PostgreSQL database or QuestDB table prefix), so a test can play
several readers and writers, in threads or processes. Every test gets a store
of its own: a fresh file, a fresh PostgreSQL database (on the session's
server, ``tests/conftest.py``), or a fresh QuestDB table prefix whose tables
are dropped afterwards.

QuestDB runs only when ``SEAMLESS_QUESTDB_HTTP`` (an ILP/HTTP configuration,
``http::addr=localhost:9000;``) and ``SEAMLESS_QUESTDB_PG`` (a libpq URI of its
PostgreSQL-wire endpoint) are set; QuestDBStore is imported only then.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from seamless_sdk.stores.base import BarStore

QUESTDB_HTTP = os.environ.get("SEAMLESS_QUESTDB_HTTP")
QUESTDB_PG = os.environ.get("SEAMLESS_QUESTDB_PG")
KINDS = ("local", "postgres", "questdb")


@dataclass
class StoreFactory:
    """Opens handles on one store of ``kind``; closes them all at teardown."""

    kind: str
    _open: Callable[[], BarStore]
    _opened: list[BarStore] = field(default_factory=list)

    def open(self) -> BarStore:
        """A new handle (its own connections) on this test's store."""
        store = self._open()
        self._opened.append(store)
        return store

    def close_all(self) -> None:
        for store in self._opened:
            store.close()

    @contextmanager
    def spied(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[BarStore, list[str]]]:
        """A handle whose every SQL statement is recorded in the list it comes
        with (cleared once the handle is open, so opening does not count)."""
        statements: list[str] = []
        with monkeypatch.context() as mp:
            if self.kind == "local":
                _spy_sqlite(mp, statements)
            else:
                _spy_psycopg(mp, statements)
            store = self.open()
            # Every connection this handle will use is opened lazily through the
            # patched connect, so statements keep being recorded after the patch
            # is undone; only the opening statements are forgotten.
            store.coverage("spy:warmup", "1m")
            statements.clear()
            yield store, statements


def _spy_sqlite(mp: pytest.MonkeyPatch, statements: list[str]) -> None:
    from seamless_sdk.stores import _sqlite

    real = _sqlite.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    mp.setattr(_sqlite, "connect", connect)


def _spy_psycopg(mp: pytest.MonkeyPatch, statements: list[str]) -> None:
    import psycopg

    real = psycopg.connect

    class RecordingCursor(psycopg.Cursor):  # type: ignore[type-arg]
        def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(_text(query))
            return super().execute(query, *args, **kwargs)

        def executemany(self, query: Any, *args: Any, **kwargs: Any) -> Any:
            statements.append(_text(query))
            return super().executemany(query, *args, **kwargs)

    def connect(*args: Any, **kwargs: Any) -> Any:
        conn = real(*args, **kwargs)
        conn.cursor_factory = RecordingCursor
        return conn

    mp.setattr(psycopg, "connect", connect)


def _text(query: Any) -> str:
    return query.decode() if isinstance(query, bytes) else str(query)


def _local(tmp_path: Path) -> Callable[[], BarStore]:
    from seamless_sdk.stores.local import LocalStore

    path = tmp_path / "bars.sqlite"
    return lambda: LocalStore(path)


def _postgres(request: pytest.FixtureRequest) -> Callable[[], BarStore]:
    from seamless_sdk.stores.postgres import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStore(dsn)


def _questdb(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BarStore]:
    if not (QUESTDB_HTTP and QUESTDB_PG):
        pytest.skip("set SEAMLESS_QUESTDB_HTTP and SEAMLESS_QUESTDB_PG to run on QuestDB")
    import psycopg

    from seamless_sdk.stores.questdb import QuestDBStore

    prefix = f"c{uuid.uuid4().hex[:12]}"

    def drop_tables() -> None:
        with psycopg.connect(QUESTDB_PG, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT table_name FROM tables() WHERE table_name LIKE %s", (f"{prefix}_%",)
            ).fetchall()
            for (table,) in rows:
                # Names come from the server and match our own prefix; QuestDB
                # cannot bind a table name.
                conn.execute(f'DROP TABLE IF EXISTS "{table}"'.encode())

    request.addfinalizer(drop_tables)
    locks = tmp_path / "questdb-locks"
    return lambda: QuestDBStore(QUESTDB_HTTP, QUESTDB_PG, table_prefix=prefix, lock_dir=locks)


@pytest.fixture(params=KINDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Handles on a fresh store of each kind (``local``, ``postgres``, ``questdb``)."""
    kind = request.param
    if kind == "local":
        opener = _local(tmp_path)
    elif kind == "postgres":
        opener = _postgres(request)
    else:
        opener = _questdb(request, tmp_path)
    factory = StoreFactory(kind, opener)
    try:
        yield factory
    finally:
        factory.close_all()


@pytest.fixture
def store(store_factory: StoreFactory) -> BarStore:
    """One handle on the test's store."""
    return store_factory.open()
