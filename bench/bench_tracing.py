"""What tracing costs a 1-day storage read (bench_sdk's read of stored 1m bars).

Run: ``.venv/bin/python bench/bench_tracing.py --before <commit>`` (``--help``).

Each configuration runs in a fresh interpreter, round after round in turn, so a
busy machine slows them alike; the table gives the median over rounds of each
run's p50/p95 of ``provider.read`` (1,440 bars, cache off, FAIL_FAST) and of the
same read answered from the cache:

* ``before``: the SDK at ``--before`` (a ``git archive`` of it), no tracing code;
* ``off``: this tree, ``opentelemetry`` installed, no tracer provider set;
* ``sdk``: an SDK ``TracerProvider`` with no span processor (spans made, dropped);
* ``export``: an SDK provider with a ``BatchSpanProcessor`` into an in-memory
  exporter (what a deployment with an exporter pays on the reading thread).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("before", "off", "sdk", "export")


def child(mode: str, root: Path, repeats: int) -> dict[str, Any]:
    """One configuration's read timings (runs in the child interpreter)."""
    sys.path.insert(0, str(root))
    sys.path.insert(0, str(root / "bench"))
    if mode in ("sdk", "export"):
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )

        provider = TracerProvider()
        if mode == "export":
            provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
        trace.set_tracer_provider(provider)
    from bench_sdk import bench_reads

    import seamless_sdk

    assert Path(seamless_sdk.__file__).is_relative_to(root), seamless_sdk.__file__
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_reads(Path(tmp), 2, repeats)["1 day"]
    return {k: rows[k] for k in ("sdk storage", "sdk cache hit", "raw")}


def _tree(what: str, where: Path) -> Path:
    """``what`` as a source tree: a directory as it is, a commit extracted to ``where``."""
    if Path(what).is_dir():
        return Path(what)
    archive = subprocess.run(["git", "archive", what], cwd=ROOT, capture_output=True, check=True)
    where.mkdir(parents=True)
    (where / "tree.tar").write_bytes(archive.stdout)
    with tarfile.open(where / "tree.tar") as tar:
        tar.extractall(where, filter="data")
    return where


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="commit or directory of the 'before' SDK (omit: none)")
    parser.add_argument("--after", help="commit or directory of the SDK to measure (this tree)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.root, args.repeats)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        after = _tree(args.after, Path(tmp) / "after") if args.after else ROOT
        roots = {mode: after for mode in MODES[1:]}
        if args.before:
            roots = {"before": _tree(args.before, Path(tmp) / "before"), **roots}
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in roots}
        for _ in range(args.rounds):
            for mode, root in roots.items():
                command = [sys.executable, __file__, "--child", mode, "--root", str(root)]
                command += ["--repeats", str(args.repeats)]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[mode].append(json.loads(out.stdout.splitlines()[-1]))
    print(f"{'mode':<8} {'storage p50':>12} {'p95':>8} {'cache p50':>10} {'p95':>8} {'raw p50':>8}")
    for mode, results in runs.items():

        def median(path: str, stat: str, results: list[dict[str, Any]] = results) -> float:
            return statistics.median(r[path][stat] for r in results)

        print(
            f"{mode:<8} {median('sdk storage', 'p50_ms'):>12.4f} "
            f"{median('sdk storage', 'p95_ms'):>8.4f} {median('sdk cache hit', 'p50_ms'):>10.4f} "
            f"{median('sdk cache hit', 'p95_ms'):>8.4f} {median('raw', 'p50_ms'):>8.4f}"
        )


if __name__ == "__main__":
    main()
