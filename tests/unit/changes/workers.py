"""Subprocesses the kill tests SIGKILL at random points:

    python -m tests.unit.changes.workers promote REPORT AUDIT
    python -m tests.unit.changes.workers reprocess MAIN WORK_DIR SEED

Each prints ``ready`` once its stores are open, then works; ``promote`` prints
one line per promoted partition.
"""

from __future__ import annotations

import sys
from pathlib import Path

from seamless_sdk.changes.canary import CanaryReport
from seamless_sdk.changes.promote import promote
from seamless_sdk.changes.reprocess import reprocess
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.stores.local import LocalStore
from tests.unit.changes.support import POLICY, keys

WIDE = ("demo:A", "demo:B", "demo:C", "demo:D", "demo:E", "demo:F")
"""Six nodes × two years: twelve partitions, so a kill lands among them."""


def _promote(report_path: str, audit: str) -> None:
    report = CanaryReport.load(report_path)
    main = LocalStore(report.data["main_store"])
    shadow = LocalStore(report.data["shadow_store"], read_only=True)
    print("ready", flush=True)
    promote(report, main, shadow, force=True, audit_path=Path(audit),
            progress=lambda p: print(p.key, p.status, flush=True))  # fmt: skip


def _reprocess(main_path: str, work_dir: str, seed: str) -> None:
    main = LocalStore(main_path)
    print("ready", flush=True)
    reprocess(main, SyntheticFetcher(seed=int(seed)), keys(WIDE), work_dir=Path(work_dir),
              policy=POLICY, progress=lambda r: print(r.key, r.outcome, flush=True))  # fmt: skip


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    {"promote": _promote, "reprocess": _reprocess}[command](*rest)
