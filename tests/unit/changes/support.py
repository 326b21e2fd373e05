"""Stores filled with synthetic bars for the change-tool tests (no pytest here: the
kill-test workers import it too)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seamless_sdk.backfill.dagster import PartitionKey
from seamless_sdk.backfill.fill import fill_window
from seamless_sdk.backfill.policy import FillPolicy
from seamless_sdk.changes.windows import partition_keys, window_state
from seamless_sdk.fetchers.synthetic import SyntheticFetcher
from seamless_sdk.stores.local import LocalStore

INTERVAL = "1h"
NODES = ("demo:A", "demo:B")
START, END = "2024-01-01", "2026-01-01"
"""Two closed years of 1h bars: four yearly partitions of 8,760-8,784 bars."""
POLICY = FillPolicy(max_attempts=1, retry_backoff_ms=0, jitter_ratio=0)


def keys(nodes: Sequence[str] = NODES) -> list[PartitionKey]:
    """The partitions of ``nodes`` over ``START``–``END``."""
    return partition_keys(list(nodes), INTERVAL, START, END)


def fill(path: Path, seed: int, ks: Sequence[PartitionKey] | None = None) -> Path:
    """A store at ``path`` with ``SyntheticFetcher(seed)``'s bars of ``ks``, closed
    again (its WAL checkpointed), so its bytes are stable."""
    store = LocalStore(path)
    try:
        for key in ks if ks is not None else keys():
            fill_window(store, SyntheticFetcher(seed=seed), key.node_id, key.interval,
                        *key.window, policy=POLICY)  # fmt: skip
    finally:
        store.close()
    return path


def fingerprints(path: Path, ks: Sequence[PartitionKey] | None = None) -> dict[str, str]:
    """Partition → content fingerprint of the store at ``path``."""
    store = LocalStore(path, read_only=True)
    try:
        return {str(k): window_state(store, k).fingerprint for k in (ks or keys())}
    finally:
        store.close()
