"""Environment variables have one home (seamless_sdk.settings); the SDK never imports the
code location."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from seamless_sdk import settings

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "seamless_sdk").rglob("*.py")) + sorted(
    (REPO / "seamless_assets").rglob("*.py")
)


def _environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that touch ``os.environ``, ``os.getenv`` or ``os.putenv``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "putenv"}
    ] + [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "os"
        and any(a.name in {"environ", "getenv", "putenv"} for a in node.names)
    ]


def test_only_settings_reads_the_environment() -> None:
    assert len(SOURCES) > 50  # the walk found the packages
    offenders = {
        str(p.relative_to(REPO)): lines
        for p in SOURCES
        if p.name != "settings.py" and (lines := _environment_reads(p))
    }
    assert offenders == {}


def test_the_sdk_never_imports_the_code_location() -> None:
    offenders = []
    for path in (REPO / "seamless_sdk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            offenders += [
                f"{path.relative_to(REPO)}:{node.lineno}"
                for n in names
                if n.split(".")[0] == "seamless_assets"
            ]
    assert offenders == []


@pytest.mark.parametrize(
    ("reader", "name"),
    [
        (settings.config_file, settings.CONFIG_ENV),
        (settings.store_override, settings.STORE_ENV),
        (settings.dagster_home, settings.DAGSTER_HOME_ENV),
        (settings.conformance_config_file, settings.CONFORMANCE_CONFIG_ENV),
    ],
)
def test_readers_treat_empty_as_unset(
    reader: object, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert callable(reader)
    assert name in settings.ALL_VARIABLES
    for empty in ("", "   "):
        monkeypatch.setenv(name, empty)
        assert reader() is None
    monkeypatch.delenv(name)
    assert reader() is None
    monkeypatch.setenv(name, f" {tmp_path / 'x'} ")
    assert str(reader()) == str(tmp_path / "x")
