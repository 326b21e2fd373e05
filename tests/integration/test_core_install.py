"""``pip install seamless`` alone: the read SDK works without Dagster or Great Expectations.

A strategy host installs the core only. This builds the project (no extras)
into a fresh virtualenv, with the lock file as constraints so it resolves to
the versions the rest of the suite tests, and runs a real read there:
SyntheticFetcher into a LocalStore, then a FAIL_FAST read from storage, and
the ``seamless`` CLI. Dagster and Great Expectations must not be importable,
and ``seamless backfill`` must say which extra it needs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

READ = textwrap.dedent(
    """
    import importlib.util, sys
    from seamless_sdk import LocalStore, SeamlessDataProvider, Strategy
    from seamless_sdk.fetchers import SyntheticFetcher

    t0, day = 1_704_067_200, 86_400
    fetcher = SyntheticFetcher(seed=1)
    with SeamlessDataProvider(store=LocalStore("bars.sqlite"), fetcher=fetcher) as provider:
        filled = provider.read("demo:A", "1h", t0, t0 + day, strategy=Strategy.AUTO_BACKFILL)
        assert len(filled.df) == 24, filled.df
        stored = provider.read("demo:A", "1h", t0, t0 + day, strategy=Strategy.FAIL_FAST)
        assert stored.df.equals(filled.df)
        assert not stored.meta.missing
    for name in ("dagster", "great_expectations"):
        assert importlib.util.find_spec(name) is None, f"{name} is installed in the core"

    # Installed, the config is ./seamless.yaml or $SEAMLESS_CONFIG, never a file in site-packages.
    from seamless_sdk.config import load_config
    from seamless_sdk.errors import InvalidRequestError
    try:
        load_config()
    except InvalidRequestError as exc:
        assert "no seamless.yaml in the current directory" in str(exc), exc
    else:
        raise AssertionError("a config was found without ./seamless.yaml or SEAMLESS_CONFIG")
    print("core read ok")
    """
)


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with ``pip install seamless`` (no extras) from a copy of the project."""
    root = tmp_path_factory.mktemp("core")
    source = root / "src"
    source.mkdir()
    # A copy, so building the wheel writes nothing into the working tree.
    shutil.copy(REPO / "pyproject.toml", source)
    for package in ("seamless_sdk", "seamless_assets"):
        shutil.copytree(
            REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    venv = root / "venv"
    _ok(_run([sys.executable, "-m", "venv", venv], root, _env()))
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _ok(_run([*pip, "-c", REPO / "requirements.lock", source], root, _env()))
    return venv


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEAMLESS_", "DAGSTER_"))}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env


def test_core_install_reads_without_dagster_or_gx(core_venv: Path, tmp_path: Path) -> None:
    python = core_venv / "bin" / "python"
    assert "core read ok" in _ok(_run([python, "-c", READ], tmp_path, _env()))
    installed = _ok(_run([python, "-m", "pip", "list", "--format=freeze"], tmp_path, _env()))
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert {"seamless", "pandas", "pyarrow", "pandera", "pydantic"} <= names
    assert not names & {"dagster", "dagster-webserver", "great-expectations", "psycopg2-binary"}


def test_core_cli_reads_and_explains_the_dagster_extra(core_venv: Path, tmp_path: Path) -> None:
    seamless = core_venv / "bin" / "seamless"
    assert _ok(_run([seamless, "--version"], tmp_path, _env())).startswith("seamless ")
    read = [seamless, "read", "demo:A", "1h", "2024-01-01", "2024-01-01T02:00"]
    assert '"missing"' in _ok(_run([*read, "--strategy", "auto_backfill"], tmp_path, _env()))
    assert (tmp_path / "var" / "seamless-cli.sqlite").is_file()  # no config: its own store
    backfill = _run(
        [seamless, "backfill", "demo:A", "--start", "2024-01-01", "--end", "2024-02-01"],
        tmp_path,
        _env(),
    )
    assert backfill.returncode == 1
    assert "seamless[dagster]" in backfill.stdout
