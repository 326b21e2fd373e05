#!/usr/bin/env python3
"""Set up the project's virtualenv from the lock file and run a task in it.

    python3 dev.py demo        # the main job on the embedded default store
    python3 dev.py test        # the whole test suite (what CI runs)
    python3 dev.py dagster     # the Dagster UI and daemon on the demo nodes
    python3 dev.py lock        # re-resolve requirements.lock from pyproject.toml (all extras)

Needs only Python 3.11 and pip. The venv lives in ``.venv`` and is rebuilt
when ``requirements.lock``, ``requirements-data.txt`` or ``pyproject.toml``
changes (the last for the editable install's metadata: entry points, extras).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.lock"
DATA = ROOT / "requirements-data.txt"
STAMP = VENV / ".lock-sha256"
PY = VENV / "bin" / "python"
PYPROJECT = ROOT / "pyproject.toml"


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the task too (same terminal): let it shut down by itself
        # (dagster dev stops its webserver and daemon), then exit as interrupted,
        # without a traceback. A second Ctrl-C, or a task that hangs, is killed.
        try:
            proc.wait(timeout=30)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            proc.wait()
        return 130


def ensure_venv() -> None:
    """Create ``.venv`` and install the locked dependencies if they changed."""
    digest = hashlib.sha256(
        LOCK.read_bytes() + DATA.read_bytes() + PYPROJECT.read_bytes()
    ).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == digest:
        return
    if sys.version_info[:2] != (3, 11):
        print(f"warning: Python 3.11 expected, running {sys.version.split()[0]}", file=sys.stderr)
    if not PY.exists():
        print("creating .venv ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    print("installing locked dependencies (first run takes about a minute) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.check_call([*pip, "-r", str(LOCK)], cwd=ROOT)
    subprocess.check_call([*pip, "--no-deps", "-r", str(DATA)], cwd=ROOT)
    subprocess.check_call([*pip, "--no-deps", "-e", "."], cwd=ROOT)
    STAMP.write_text(digest)


def main(argv: list[str]) -> int:
    task, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if task in ("help", "-h", "--help"):
        print(__doc__)
        return 0
    if task == "lock":
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "uv"])
        # Every extra ([dagster], [gx], [dev]): the lock is what `test` and `demo`
        # install, and the constraints a core-only install is checked against.
        return _run(
            sys.executable,
            "-m",
            "uv",
            "pip",
            "compile",
            "pyproject.toml",
            "--all-extras",
            "--python-version",
            "3.11",
            "-o",
            LOCK.name,
        )
    ensure_venv()
    env = dict(os.environ)
    if task == "demo":
        return _run(VENV / "bin" / "seamless", "demo", *rest, env=env)
    if task == "test":
        return _run(PY, "-m", "pytest", *rest, env=env)
    if task == "dagster":
        env.setdefault("DAGSTER_HOME", str(ROOT / "var" / "dagster_home"))
        Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
        dagster_yaml = Path(env["DAGSTER_HOME"]) / "dagster.yaml"
        if not dagster_yaml.exists():
            dagster_yaml.write_text((ROOT / "dagster.yaml").read_text())
        return _run(VENV / "bin" / "dagster", "dev", "-w", "workspace.yaml", *rest, env=env)
    print(f"unknown task {task!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
