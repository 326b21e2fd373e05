"""Fixtures of the coordinator tests (see pg.py)."""

from __future__ import annotations

from tests.unit.coordination.pg import dsn

__all__ = ["dsn"]
