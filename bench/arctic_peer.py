"""ArcticDB, the peer LocalStore is measured against, run in its own virtualenv.

ArcticDB pins ``pandas < 3`` while the project runs pandas 3, so it cannot be
imported next to ``seamless_sdk``. This file plays two parts:

* imported from the project's venv, :func:`run_peer` creates
  ``bench/.venv-arctic`` on first use (``python -m venv`` + ``pip install
  arcticdb pyarrow``) and runs this same file there as a subprocess;
* run inside that venv (``python arctic_peer.py DATA.arrow ...``), it writes the
  bars as daily appends to an LMDB library, times reads and prints one JSON
  object on stdout.

The data travels as an Arrow IPC file with a ``ts`` column (``timestamp[ns,
UTC]``) and the bar columns, exactly as LocalStore stores them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VENV = Path(__file__).resolve().parent / ".venv-arctic"
PACKAGES = ("arcticdb", "pyarrow")
DAY_NS = 86_400 * 1_000_000_000


class PeerUnavailable(RuntimeError):
    """ArcticDB could not be installed or run; the message says why."""


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(log: Any = print) -> Path:
    """Create ``bench/.venv-arctic`` with ArcticDB unless it already imports."""
    py = _venv_python()
    if py.exists():
        probe = subprocess.run(
            [str(py), "-c", "import arcticdb, pyarrow"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return py
    log(f"creating {VENV} (pip install {' '.join(PACKAGES)}); this happens once")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(py), "-m", "pip", "install", "--quiet", *PACKAGES],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise PeerUnavailable(f"{' '.join(cmd[:4])} failed: {' | '.join(tail)}")
    return py


def run_peer(
    data_path: Path, days: list[int], repeats: int, gap_ms: float = 0.0, log: Any = print
) -> dict[str, Any]:
    """Run the peer benchmark in the ArcticDB venv and return its JSON result.

    ``days`` are the read lengths to time, in days from the first bar;
    ``gap_ms`` is an idle pause before each timed read.
    Raises :class:`PeerUnavailable` when ArcticDB cannot be installed or fails.
    """
    py = ensure_venv(log)
    cmd = [str(py), str(Path(__file__).resolve()), str(data_path), "--repeats", str(repeats)]
    cmd += ["--gap-ms", str(gap_ms), "--days", *map(str, days)]
    # The peer must not see the project's venv or its pandas 3.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise PeerUnavailable(f"arctic peer failed: {' | '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the part that runs inside the ArcticDB venv ---------------------------------
def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": ordered[len(ordered) // 2] * 1e3,
        "p95_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e3,
    }


def _peer_main(argv: list[str]) -> None:
    import arcticdb as adb
    import pandas as pd
    import pyarrow as pa

    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=0.0)
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    args = parser.parse_args(argv)

    with pa.memory_map(args.data) as source:
        table = pa.ipc.open_file(source).read_all()
    frame = table.to_pandas().set_index("ts")
    first = int(frame.index[0].value)
    n_days = (int(frame.index[-1].value) - first) // DAY_NS + 1

    with tempfile.TemporaryDirectory(prefix="arctic-peer-") as tmp:
        lib = adb.Arctic(f"lmdb://{tmp}").get_library("bench", create_if_missing=True)
        t0 = time.perf_counter()
        for d in range(n_days):
            lo = pd.Timestamp(first + d * DAY_NS, tz="UTC")
            day = frame[(frame.index >= lo) & (frame.index < lo + pd.Timedelta(days=1))]
            if d == 0:
                lib.write("bars", day)
            else:
                lib.append("bars", day)
        write_s = time.perf_counter() - t0

        out: dict[str, Any] = {
            "arcticdb": adb.__version__,
            "pandas": pd.__version__,
            "appends": n_days,
            "write_all_ms": write_s * 1e3,
            "reads": {},
        }
        for days in args.days:
            lo = pd.Timestamp(first, tz="UTC")
            # ArcticDB's date_range is closed on both ends: stop one ns early.
            hi = lo + pd.Timedelta(days=days) - pd.Timedelta(1, "ns")
            rows = len(lib.read("bars", date_range=(lo, hi)).data)
            for _ in range(20):  # warm-up, as for LocalStore
                lib.read("bars", date_range=(lo, hi))
            samples = []
            for _ in range(args.repeats):
                time.sleep(args.gap_ms / 1e3)
                t = time.perf_counter()
                lib.read("bars", date_range=(lo, hi)).data  # noqa: B018 - the read is timed
                samples.append(time.perf_counter() - t)
            out["reads"][str(days)] = {"rows": rows, **_percentiles(samples)}
    print(json.dumps(out))


if __name__ == "__main__":
    _peer_main(sys.argv[1:])
