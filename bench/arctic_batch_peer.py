"""ArcticDB's ``read_batch`` over many symbols, the peer of ``read_many``.

Runs in ArcticDB's own virtualenv (see ``arctic_peer.py``, which creates it):
imported from the project's venv, :func:`run_batch_peer` starts this file
there; run there, it writes one symbol per node from an Arrow IPC file (a
``node`` column plus the bar columns), times ``read_batch`` of all symbols
(touching every returned frame) and prints one JSON object.
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

from arctic_peer import PeerUnavailable, ensure_venv


def run_batch_peer(data_path: Path, repeats: int, log: Any = print) -> dict[str, Any]:
    """Time ArcticDB ``read_batch`` of every node in ``data_path``; raises PeerUnavailable."""
    py = ensure_venv(log)
    cmd = [str(py), str(Path(__file__).resolve()), str(data_path), "--repeats", str(repeats)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        raise PeerUnavailable(f"arctic batch peer failed: {' | '.join(tail)}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _peer_main(argv: list[str]) -> None:
    import arcticdb as adb
    import pyarrow as pa

    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    with pa.memory_map(args.data) as source:
        table = pa.ipc.open_file(source).read_all()
    frame = table.to_pandas()
    symbols = list(dict.fromkeys(frame["node"]))
    with tempfile.TemporaryDirectory(prefix="arctic-batch-") as tmp:
        lib = adb.Arctic(f"lmdb://{tmp}").get_library("bench", create_if_missing=True)
        for node, bars in frame.groupby("node", sort=False):
            lib.write(node, bars.drop(columns="node").set_index("ts"))
        for _ in range(2):  # warm-up
            lib.read_batch(symbols)
        samples = []
        rows = 0
        for _ in range(args.repeats):
            t = time.perf_counter()
            results = lib.read_batch(symbols)
            rows = sum(len(r.data) for r in results)
            samples.append(time.perf_counter() - t)
    samples.sort()
    print(
        json.dumps(
            {
                "arcticdb": adb.__version__,
                "symbols": len(symbols),
                "rows": rows,
                "p50_ms": samples[len(samples) // 2] * 1e3,
                "min_ms": samples[0] * 1e3,
            }
        )
    )


if __name__ == "__main__":
    _peer_main(sys.argv[1:])
