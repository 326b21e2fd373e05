"""Fixtures shared by every test tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import settings

if TYPE_CHECKING:
    from tests.pg_server import PostgresServer

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def repository_config() -> Iterator[Path]:
    """The repository's ``seamless.yaml`` is the config, whatever directory pytest runs in.

    The code location no longer looks next to its own source (installed from a
    wheel that is site-packages), only at ``$SEAMLESS_CONFIG`` and the working
    directory, so point the variable at the repository's file unless the
    caller set one. Tests of other configs override it with ``monkeypatch``.
    """
    with pytest.MonkeyPatch.context() as mp:
        if settings.config_file() is None:
            mp.setenv(settings.CONFIG_ENV, str(REPO / "seamless.yaml"))
        yield REPO / "seamless.yaml"


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh Prometheus registry, so tests never share counters."""
    return CollectorRegistry()


@pytest.fixture
def store_path(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "bars.sqlite"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL (the ``pgserver`` wheel's binaries) for the whole
    session, in a temporary directory on a free TCP port; stopped and deleted
    at the end. Skips when pgserver or psycopg is not installed."""
    pytest.importorskip("psycopg")
    from tests.pg_server import PostgresServer, pgserver_missing

    if pgserver_missing():
        pytest.skip("the pgserver wheel is not installed")
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A libpq URI of a fresh, empty database on the session's server, dropped
    (its sessions ended) after the test, so tests never see each other's tables."""
    dsn = postgres_server.create_database()
    try:
        yield dsn
    finally:
        postgres_server.drop_database(dsn)
