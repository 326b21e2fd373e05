"""Fixtures: a real Dagster instance on a temporary DAGSTER_HOME and a code-location config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from seamless_assets import build_definitions
from tests.integration.dagster.support import SeamlessEnv, make_env


@pytest.fixture
def seamless_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SeamlessEnv:
    return make_env(tmp_path, monkeypatch)


@pytest.fixture
def instance(seamless_env: SeamlessEnv) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.get() as inst:
        yield inst


@pytest.fixture
def defs(seamless_env: SeamlessEnv) -> dg.Definitions:
    return build_definitions(seamless_env.config)
