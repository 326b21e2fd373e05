"""Functions the contract tests run in child processes (spawned: imported afresh)."""

from __future__ import annotations

import time
from typing import Any

from seamless_sdk.stores.base import BarStore
from tests.contract.bars import grow


def write_windows(store: BarStore, node: str, windows: list[tuple[int, int]], ready: Any) -> None:
    """Write ``windows`` one after another (the store arrives pickled: a new
    handle on the same store), then close."""
    try:
        ready.set()
        grow(store, node, windows)
    finally:
        store.close()


def hold_lock(store: BarStore, node: str, chunk_start: int, held: Any) -> None:
    """Take a window lock, say so, and sleep holding it until killed."""
    with store.window_lock(node, "1m", chunk_start):
        held.set()
        time.sleep(600)
