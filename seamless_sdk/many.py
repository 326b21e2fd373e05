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
from collections.abc import Generator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from seamless_sdk.engine import Wait
from seamless_sdk.errors import ReadManyError
from seamless_sdk.result import HistoryResult

Run = Generator[Wait, set[Future[Any]], HistoryResult]


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

    def __init__(self, runs: Mapping[str, Run]) -> None:
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
        if self.errors:
            raise ReadManyError(
                results, {n: self.errors[n] for n in self.order if n in self.errors}
            )
        return results


def drive_many(runs: Mapping[str, Run]) -> dict[str, HistoryResult]:
    """Run every read to its end, blocking this thread on their waits."""
    driver = _Driver(runs)
    while driver.waiting:
        futures, timeout = driver.pending()
        if futures:
            wait_futures(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        elif timeout:
            time.sleep(timeout)
        driver.advance()
    return driver.outcome()


async def adrive_many(runs: Mapping[str, Run]) -> dict[str, HistoryResult]:
    """Run every read to its end, waiting on the running event loop."""
    driver = _Driver(runs)
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
