"""Fetchers the integration tests name in their code-location config.

They run inside Dagster run processes too, so they count their calls in a
file (``SEAMLESS_TEST_FETCH_LOG``, one line per fetch, appended atomically)
rather than in memory. Node ids pick a behaviour: a node whose id contains
``ONEBAD`` returns one bar that breaks the quality rules (the bar at
``ONE_BAD_TS``), ``BAD`` every fiftieth, ``GAP`` drops every tenth bar,
``FAIL`` raises, ``SLOW`` holds each fetch until the file named by
``SEAMLESS_TEST_SLOW_UNTIL`` exists (at most ``SLOW_MAX_S``; a run that is
still going when a test acts on it); any other node gets clean synthetic bars.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from seamless_sdk.fetchers import SyntheticFetcher

FETCH_LOG_ENV = "SEAMLESS_TEST_FETCH_LOG"
ONE_BAD_TS = 1_704_067_200 + 10 * 86_400
"""2024-01-11T00:00Z: the one bar an ``ONEBAD`` node gets wrong (high below low)."""
SLOW_UNTIL_ENV = "SEAMLESS_TEST_SLOW_UNTIL"
SLOW_MAX_S = 120.0


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
        if "SLOW" in node_id:
            _hold(Path(os.environ.get(SLOW_UNTIL_ENV, "")))
        if "FAIL" in node_id:
            raise ConnectionError(f"upstream refused {node_id}")
        frame = self._inner.fetch(node_id, interval, start, end)
        if "ONEBAD" in node_id:
            bad = frame["ts"] == ONE_BAD_TS  # the synthetic source gives epoch seconds
            frame.loc[bad, "high"] = frame.loc[bad, "low"] - 1.0
        elif "BAD" in node_id and len(frame):
            frame.loc[frame.index[::50], "high"] = frame["low"] - 1.0
        if "GAP" in node_id and len(frame):
            frame = frame.drop(index=frame.index[::10]).reset_index(drop=True)
        return frame


def _hold(release: Path) -> None:
    deadline = time.monotonic() + SLOW_MAX_S
    while time.monotonic() < deadline and not (release.name and release.exists()):
        time.sleep(0.1)


def fetch_calls(log: Path) -> list[tuple[str, str, int, int]]:
    """The fetches recorded in ``log``: ``(node_id, interval, start, end)``."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        node, interval, start, end, _pid = line.split()
        out.append((node, interval, int(start), int(end)))
    return out
