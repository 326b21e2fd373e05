"""Fixtures shared by every test tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from seamless_sdk import settings

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
