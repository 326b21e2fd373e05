"""Closing a provider while its fills still write never crashes the process.

``close()`` waits ``close_timeout_s`` for fills in flight; past it, a fill
thread may still be writing when the store closes. Closing a SQLite
connection that another thread is using crashed the interpreter (SIGSEGV in
about two runs of three of this script), so the store now closes a live
thread's connection only from that thread. Run in a subprocess: a crash must
fail the test, not the test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys, threading
from prometheus_client import CollectorRegistry
from seamless_sdk import LocalStore, SeamlessDataProvider, SLAPolicy, SyntheticFetcher

class Released:
    def __init__(self):
        self.go = threading.Event()
    def fetch(self, node_id, interval, start, end):
        self.go.wait(3)
        return SyntheticFetcher(seed=1).generate(node_id, interval, start, end)

T0 = 1_704_067_200
for k in range(60):
    fetcher = Released()
    provider = SeamlessDataProvider(LocalStore(sys.argv[1]), fetcher, close_timeout_s=0.0,
                                    registry=CollectorRegistry())
    provider.read(f"close:{k}", "1m", T0, T0 + 3 * 86_400,
                  sla=SLAPolicy(total_deadline_ms=5, max_sync_gap_bars=None))
    threading.Timer(0.001 * (k % 5), fetcher.go.set).start()
    provider.close()
print("done")
"""


def test_closing_while_fills_write_does_not_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", SCRIPT, str(tmp_path / "c.sqlite")],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("done")
