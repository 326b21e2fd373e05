"""The forming bar a SEAMLESS read asks of ``live=``: one fetch per bar in
flight, and a bounded number of them.

A read stops waiting for the live source at its deadline, but it cannot stop
a plain function that hangs: each fetch runs on a thread of its own, which
outlives the read. So reads of the same bar share the fetch in flight, and
past ``MAX_LIVE_FETCHES`` a read answers without the forming bar (a note says
why) instead of leaving one more thread behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

MAX_LIVE_FETCHES = 8
"""Live fetches one provider runs at once."""

LiveKey = tuple[str, int, int, int]  # node id, interval seconds, start, end


class LiveFetches:
    """The live fetches in flight of one provider, keyed by the bar they ask for."""

    def __init__(self, limit: int = MAX_LIVE_FETCHES) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._inflight: dict[LiveKey, Future[Any]] = {}

    def start(self, key: LiveKey, fetch: Callable[[], Any]) -> Future[Any] | None:
        """The future of ``fetch()`` for ``key``: the one in flight, or a new one
        on a thread of its own; ``None`` when ``MAX_LIVE_FETCHES`` are in flight."""
        with self._lock:
            running = self._inflight.get(key)
            if running is not None:
                return running
            if len(self._inflight) >= self._limit:
                return None
            future: Future[Any] = Future()
            self._inflight[key] = future

        def run() -> None:
            try:
                future.set_result(fetch())
            except BaseException as exc:  # handed to every reader through the future
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._inflight.pop(key, None)

        threading.Thread(target=run, name="seamless-live", daemon=True).start()
        return future
