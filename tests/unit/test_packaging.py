"""pyproject.toml: Dagster finds the code location, the extras split, the lock holds them all."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement (``dagster==1.13`` → ``dagster``)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements}


def test_dagster_reads_the_code_location_from_tool_dagster() -> None:
    """Defect 6: ``[dagster]`` was ignored; Dagster's own loader reads ``[tool.dagster]``."""
    from dagster._core.workspace.load_target import (  # test-only: how `dagster dev` reads it
        ModuleTarget,
        get_target_from_toml_data,
    )

    assert "dagster" not in PYPROJECT  # the old, ignored top-level table is gone
    target = get_target_from_toml_data(PYPROJECT)
    assert isinstance(target, ModuleTarget)
    assert target.module_name == "seamless_assets.definitions"


def test_the_core_has_no_dagster_and_no_great_expectations() -> None:
    core = _names(PYPROJECT["project"]["dependencies"])
    assert {"pandas", "pyarrow", "pandera", "pydantic", "prometheus-client"} <= core
    assert not {n for n in core if n.startswith("dagster") or n == "great-expectations"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"dagster", "dagster-webserver", "dagster-graphql", "dagster-postgres"} <= _names(
        extras["dagster"]
    )
    assert "psycopg2-binary" in _names(extras["dagster"])
    assert _names(extras["gx"]) == {"great-expectations"}
    assert _names(extras["postgres"]) == {"psycopg"}
    assert _names(extras["questdb"]) == {"questdb", "psycopg"}
    assert {"pytest", "hypothesis", "ruff"} <= _names(extras["dev"])
    assert _names(extras["otel"]) == {"opentelemetry-api", "opentelemetry-sdk"}
    assert "seamless[dagster,gx,postgres,questdb,otel]" in extras["dev"]  # dev is everything


def test_the_lock_pins_every_extra() -> None:
    """``dev.py test``/``demo`` install the lock: it must hold the core and every extra."""
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    assert "--all-extras" in lock.splitlines()[1]
    pinned = {_name(line) for line in lock.splitlines() if re.match(r"[A-Za-z0-9]", line)}
    wanted = _names(PYPROJECT["project"]["dependencies"])
    for group in PYPROJECT["project"]["optional-dependencies"].values():
        wanted |= _names(group)
    assert wanted - pinned == {"seamless"}  # the project itself is installed, not pinned


def test_the_installed_entry_points_match_pyproject() -> None:
    """The editable install is current: the CLI plugin group it exposes is pyproject's."""
    declared = PYPROJECT["project"]["entry-points"]["seamless.cli"]
    installed = {ep.name: ep.value for ep in entry_points(group="seamless.cli")}
    assert installed == declared
    assert PYPROJECT["project"]["scripts"]["seamless"] == "seamless_sdk.cli:main"
