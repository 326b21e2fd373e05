"""Fixtures of the coordinator tests (see pg.py)."""

from __future__ import annotations

from tests.unit.coordination.pg import dsn, pg_server_dsn

__all__ = ["dsn", "pg_server_dsn"]
