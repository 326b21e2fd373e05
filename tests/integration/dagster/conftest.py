"""Fixtures: a real Dagster instance on a temporary DAGSTER_HOME and a code-location config.

Every test of this directory runs twice, on the two instances Seamless ships:
``[sqlite]`` (the repository's ``dagster.yaml``, the embedded default) and
``[postgres]`` (``deploy/dagster.postgres.yaml``, dagster-postgres storage of
runs, the event log, schedules and sensors on a database of the test's own on
the session's PostgreSQL server), except the modules in
:data:`SQLITE_ONLY`. A PostgreSQL database is a copy of a template that
Dagster's schema was created in once per session: creating the schema takes
1-2 s, copying the template 0.1 s.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pytest

from seamless_assets import build_definitions
from tests.integration.dagster.support import (
    REPO,
    SeamlessEnv,
    make_env,
    use_postgres_instance,
)

if TYPE_CHECKING:
    from tests.pg_server import PostgresServer

SQLITE_ONLY = frozenset(
    {
        # Is itself the PostgreSQL-instance test (its own pgserver, the deploy file).
        "test_dagster_postgres",
        # Sets its own run launcher on whichever storage; the launcher reads
        # and writes only runs and tags, which the [postgres] e2e tests cover.
        "test_run_launcher",
    }
)
"""Modules whose tests run on the SQLite instance only, and why."""

_TEMPLATE = "dagster_template"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses the instance on both storages (see the module docstring)."""
    if "dagster_storage" not in metafunc.fixturenames:
        return
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    kinds = ["sqlite"] if module in SQLITE_ONLY else ["sqlite", "postgres"]
    metafunc.parametrize("dagster_storage", kinds, indirect=True)


def _sqlalchemy_url(uri: str) -> str:
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3, under which dagster-postgres'
    # NOTIFY statements fail: name psycopg2, as deploy/dagster.postgres.yaml says.
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


def _admin(server: PostgresServer, statement: str) -> None:
    import psycopg

    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(statement.encode())


@pytest.fixture(scope="session")
def dagster_pg_template(postgres_server: PostgresServer) -> str:
    """A database holding an empty Dagster schema (runs, event log, schedules), made
    once: every ``[postgres]`` test copies it."""
    _admin(postgres_server, f'CREATE DATABASE "{_TEMPLATE}"')
    home = Path(tempfile.mkdtemp(prefix="seamless-dagster-template-"))
    try:
        shutil.copy(REPO / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(home))
            mp.setenv("DAGSTER_PG_URL", _sqlalchemy_url(postgres_server.uri(_TEMPLATE)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with dg.DagsterInstance.get() as instance:
                    instance.get_runs(limit=1)  # storage created and migrated
                    instance.dispose()  # no session may stay on a template
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return _TEMPLATE


@pytest.fixture
def dagster_storage(request: pytest.FixtureRequest) -> Iterator[str]:
    """``sqlite`` or ``postgres``: the instance storage of this run of the test."""
    kind: str = request.param
    if kind == "sqlite":
        use_postgres_instance(None)
        yield kind
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("dagster_pg_template")
    name = f"t_{uuid.uuid4().hex[:16]}"
    _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    use_postgres_instance(_sqlalchemy_url(server.uri(name)))
    try:
        yield kind
    finally:
        use_postgres_instance(None)
        server.drop_database(server.uri(name))


@pytest.fixture(autouse=True)
def _instance_storage(dagster_storage: str) -> str:
    """Puts ``dagster_storage`` under every test, so tests that call ``make_env``
    themselves (another config) get the same two instances."""
    return dagster_storage


@pytest.fixture
def seamless_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dagster_storage: str
) -> SeamlessEnv:
    return make_env(tmp_path, monkeypatch)


@pytest.fixture
def instance(seamless_env: SeamlessEnv) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture
def defs(seamless_env: SeamlessEnv) -> dg.Definitions:
    return build_definitions(seamless_env.config)
