"""Strategy processes for the race test (importable by spawned children)."""

from __future__ import annotations

import os
import traceback
from multiprocessing.synchronize import Barrier
from queue import Queue

import dagster as dg

from seamless_sdk import SeamlessDataProvider, Strategy
from seamless_sdk.backfill.dagster import DagsterBackfiller
from seamless_sdk.stores.local import LocalStore
from tests.integration.dagster.fetchers import ScriptedFetcher


def read_rounds(
    store_path: str,
    requests_path: str,
    rounds: list[tuple[str, int, int]],
    start: Barrier,
    out: Queue,  # type: ignore[type-arg]
) -> None:
    """For every round: wait for everyone, then read ``(node, start, end)`` of 1h bars
    with SEAMLESS, which detaches the large gap to the Dagster backfiller."""
    with dg.DagsterInstance.get() as instance:
        backfiller = DagsterBackfiller(requests_path, instance=instance)
        provider = SeamlessDataProvider(
            LocalStore(store_path), ScriptedFetcher(), backfiller=backfiller
        )
        try:
            for node, lo, hi in rounds:
                start.wait(timeout=120)
                try:
                    result = provider.read(node, "1h", lo, hi, strategy=Strategy.SEAMLESS)
                except BaseException:
                    out.put(("error", traceback.format_exc()))  # fail the test fast
                    raise
                b = result.meta.backfill
                out.put((os.getpid(), len(result.df), b.detached.to_list(), b.attached.to_list()))
        finally:
            provider.close()
