"""Fetchers the integration tests name in their code-location config.

They run inside Dagster run processes too, so they count their calls in a
file (``SEAMLESS_TEST_FETCH_LOG``, one line per fetch, appended atomically)
rather than in memory. Node ids pick a behaviour: a node whose id contains
``BAD`` returns bars that break the quality rules, ``GAP`` drops every tenth
bar, ``FAIL`` raises; any other node gets clean synthetic bars.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from seamless_sdk.fetchers import SyntheticFetcher

FETCH_LOG_ENV = "SEAMLESS_TEST_FETCH_LOG"


class ScriptedFetcher:
    """Synthetic bars, per-node misbehaviour, and a cross-process call log."""

    def __init__(self) -> None:
        self._inner = SyntheticFetcher(7, calls=False)

    def fetch(self, node_id: str, interval: str, start: int, end: int) -> pd.DataFrame:
        log = os.environ.get(FETCH_LOG_ENV)
        if log:
            # O_APPEND writes of one short line do not interleave between processes.
            fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{node_id} {interval} {start} {end} {os.getpid()}\n".encode())
            finally:
                os.close(fd)
        if "FAIL" in node_id:
            raise ConnectionError(f"upstream refused {node_id}")
        frame = self._inner.fetch(node_id, interval, start, end)
        if "BAD" in node_id and len(frame):
            frame.loc[frame.index[::50], "high"] = frame["low"] - 1.0
        if "GAP" in node_id and len(frame):
            frame = frame.drop(index=frame.index[::10]).reset_index(drop=True)
        return frame


def fetch_calls(log: Path) -> list[tuple[str, str, int, int]]:
    """The fetches recorded in ``log``: ``(node_id, interval, start, end)``."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        node, interval, start, end, _pid = line.split()
        out.append((node, interval, int(start), int(end)))
    return out
