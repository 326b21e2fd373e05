"""Reading a universe in one call: many reads driven together.

``read_many`` starts one engine run per node and drives them all at once:
their fills go to the same executor (concurrent, bounded by its workers),
their waits are one wait on every future any of them waits for, and they
share one deadline (every run counts from the call's start). A node whose
read fails does not stop the others: the call finishes them all, then raises
:class:`~seamless_sdk.errors.ReadManyError` carrying every result and every
error, so no failure hides another node's data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

import pandas as pd

from seamless_sdk.engine import Wait
from seamless_sdk.errors import ReadManyError
from seamless_sdk.frames import Bars, FrameMaker, assemble_many
from seamless_sdk.result import HistoryResult

Run = Generator[Wait, set[Future[Any]], HistoryResult]


class BatchFrames:
    """Defers the result frames of a batch of reads and builds them in one go
    (``frames.assemble_many``): each read's ``make_frame`` records its bars."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Bars, Sequence[tuple[str, Bars]], bool]] = {}

    def maker(self, node: str) -> FrameMaker:
        def record(bars: Bars, pieces: Sequence[tuple[str, Bars]], lineage: bool) -> pd.DataFrame:
            self._items[node] = (bars, list(pieces), lineage)
            return _PLACEHOLDER

        return record

    def apply(self, results: dict[str, HistoryResult]) -> dict[str, HistoryResult]:
        """``results`` with their real frames."""
        nodes = [n for n in results if n in self._items]
        by_lineage: dict[bool, list[str]] = {}
        for node in nodes:
            by_lineage.setdefault(self._items[node][2], []).append(node)
        frames: dict[str, pd.DataFrame] = {}
        for lineage, group in by_lineage.items():
            built = assemble_many([self._items[n][:2] for n in group], lineage)
            frames.update(zip(group, built, strict=True))
        return {n: HistoryResult(frames.get(n, r.df), r.meta) for n, r in results.items()}


_PLACEHOLDER = pd.DataFrame()


@dataclass
class _Waiting:
    run: Run
    wait: Wait
    expires: float | None

    def over(self, now: float) -> bool:
        return all(f.done() for f in self.wait.futures) or (
            self.expires is not None and now >= self.expires
        )


class _Driver:
    """The bookkeeping shared by the sync and async drivers."""

    def __init__(self, runs: Mapping[str, Run], frames: BatchFrames | None) -> None:
        self.frames = frames
        self.order = list(runs)
        self.waiting: dict[str, _Waiting] = {}
        self.results: dict[str, HistoryResult] = {}
        self.errors: dict[str, BaseException] = {}
        for node, run in runs.items():
            self._step(node, run, None)

    def _step(self, node: str, run: Run, done: set[Future[Any]] | None) -> None:
        try:
            wait = next(run) if done is None else run.send(done)
        except StopIteration as stop:
            self.results[node] = stop.value
        except Exception as exc:  # one node's failure is reported, never hides the others
            self.errors[node] = exc
        else:
            expires = None if wait.timeout_s is None else time.perf_counter() + wait.timeout_s
            self.waiting[node] = _Waiting(run, wait, expires)

    def pending(self) -> tuple[set[Future[Any]], float | None]:
        """Every future still waited for, and how long until the first wait expires."""
        futures = {f for w in self.waiting.values() for f in w.wait.futures if not f.done()}
        expiries = [w.expires for w in self.waiting.values() if w.expires is not None]
        timeout = None if not expiries else max(0.0, min(expiries) - time.perf_counter())
        return futures, timeout

    def advance(self) -> None:
        """Resume every run whose wait is over."""
        now = time.perf_counter()
        for node, w in list(self.waiting.items()):
            if w.over(now):
                del self.waiting[node]
                self._step(node, w.run, {f for f in w.wait.futures if f.done()})

    def outcome(self) -> dict[str, HistoryResult]:
        """The results in the order the nodes were asked for, or ``ReadManyError``."""
        results = {n: self.results[n] for n in self.order if n in self.results}
        if self.frames is not None:
            results = self.frames.apply(results)
        if self.errors:
            raise ReadManyError(
                results, {n: self.errors[n] for n in self.order if n in self.errors}
            )
        return results


def drive_many(
    runs: Mapping[str, Run], frames: BatchFrames | None = None
) -> dict[str, HistoryResult]:
    """Run every read to its end, blocking this thread on their waits."""
    driver = _Driver(runs, frames)
    while driver.waiting:
        futures, timeout = driver.pending()
        if futures:
            wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        elif timeout:
            time.sleep(timeout)
        driver.advance()
    return driver.outcome()


async def adrive_many(
    runs: Mapping[str, Run], frames: BatchFrames | None = None
) -> dict[str, HistoryResult]:
    """Run every read to its end, waiting on the running event loop."""
    driver = _Driver(runs, frames)
    while driver.waiting:
        futures, timeout = driver.pending()
        if futures:
            await asyncio.wait(
                [asyncio.wrap_future(f) for f in futures],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        elif timeout:
            await asyncio.sleep(timeout)
        driver.advance()
    return driver.outcome()
