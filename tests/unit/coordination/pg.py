"""The PostgreSQL of the coordinator tests: the suite's shared server.

``postgres_dsn`` (tests/conftest.py) is a fresh database on the session's
pgserver (TCP, a free port), dropped after the test; ``dsn`` is that fixture
under the short name these tests use. tests/integration/test_multihost.py
takes it from here too.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    """A libpq URI of an empty database of this test's own."""
    return postgres_dsn
