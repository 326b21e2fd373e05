"""A PostgreSQL for the coordinator tests: pgserver in a temp dir, a schema per test.

Used by the unit tests here and by tests/integration/test_multihost.py. The
shared session fixture ``postgres_dsn`` (tests/conftest.py) is used when it
exists; otherwise one pgserver is started for the session and stopped at its
end. Each test gets a schema of its own (``search_path`` in the DSN), dropped
afterwards, so tests never see each other's job rows.
"""

from __future__ import annotations

import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest


def start_server(tmp: Path) -> tuple[object, str]:
    """Start a pgserver under ``tmp``; its handle and DSN."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir; without XDG_RUNTIME_DIR it warns.
        warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")
        pgserver = pytest.importorskip("pgserver")
        server = pgserver.get_server(tmp / "pgdata", cleanup_mode="delete")
    return server, server.get_uri()


@pytest.fixture(scope="session")
def pg_server_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    try:
        yield request.getfixturevalue("postgres_dsn")
        return
    except pytest.FixtureLookupError:
        pass
    with tempfile.TemporaryDirectory(prefix="seamless-coord-") as tmp:
        server, dsn = start_server(Path(tmp))
        try:
            yield dsn
        finally:
            server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def dsn(pg_server_dsn: str) -> Iterator[str]:
    """A DSN whose ``search_path`` is a fresh schema, dropped after the test."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield make_conninfo(pg_server_dsn, options=f"-csearch_path={schema}")
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
