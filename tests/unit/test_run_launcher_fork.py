"""A run worker forked by ``WarmRunLauncher`` does not re-run the launching script.

Python 3.11's forkserver ignores a ``"__main__"`` preload (see
``seamless_assets._forkserver_main``), so each worker of a stock forkserver
runs the parent's main script again before its target: for the daemon,
Dagster's daemon modules and alembic, on every run. The script below counts
its own executions in a file; the stock forkserver is the control.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import multiprocessing
import sys
import time

with open(sys.argv[1], "a") as marks:  # every execution of this file adds a line
    marks.write("ran\\n")

if __name__ == "__main__":
    if sys.argv[2] == "warm":
        from seamless_assets.run_launcher import WarmRunLauncher

        ctx = WarmRunLauncher(preload=[])._context()
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__"])
    worker = ctx.Process(target=time.sleep, args=(0,))
    worker.start()
    worker.join()
    sys.exit(worker.exitcode)
"""


def _executions(tmp_path: Path, launcher: str) -> int:
    script = tmp_path / "launching_script.py"
    script.write_text(SCRIPT)
    marks = tmp_path / f"{launcher}.marks"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, str(script), str(marks), launcher], cwd=tmp_path, env=env, check=True,
        timeout=120,
    )  # fmt: skip
    return len(marks.read_text().splitlines())


@pytest.mark.parametrize(("launcher", "expected"), [("stock", 2), ("warm", 1)])
def test_a_worker_runs_the_launching_script_again_only_under_a_stock_forkserver(
    tmp_path: Path, launcher: str, expected: int
) -> None:
    assert _executions(tmp_path, launcher) == expected
