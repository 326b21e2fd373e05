"""The operator's kill switches, ``FORCE_FAIL_FAST`` and ``DISABLE_BACKFILL``
(seed 003 section 9), as the read engine and the fill executor apply them.

A switch is on when its environment variable is (``seamless_sdk.settings``)
or when the file named by ``$SEAMLESS_KILL_SWITCH_FILE`` lists it on a line of
its own. Both are consulted on every request and every fill window, so a
flip reaches a long-running provider without a restart: the environment for
a process that changes its own (an admin hook, a test), the file for
processes already running (an operator writes ``DISABLE_BACKFILL`` into it,
and every provider on the host obeys within ``FILE_TTL_S``).

- ``FORCE_FAIL_FAST``: every read is FAIL_FAST: it returns stored bars or
  raises ``DataUnavailableError``; nothing is fetched.
- ``DISABLE_BACKFILL``: no read starts a fill or asks a detached backfiller
  (Dagster) for one; AUTO_BACKFILL reads become FAIL_FAST (they promise every
  bar, so they must not answer partial), SEAMLESS and PARTIAL_FILL reads
  answer with what is stored and ``meta.missing`` set. Fill jobs already
  queued stop handing out windows: a window being written finishes and
  commits (bars and coverage together), none starts after it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from seamless_sdk import settings
from seamless_sdk.strategy import Strategy

SWITCHES: tuple[str, ...] = (settings.DISABLE_BACKFILL_ENV, settings.FORCE_FAIL_FAST_ENV)
"""The names a kill-switch file may list."""
FILE_TTL_S = 1.0
"""How long the file's contents are trusted before its mtime is checked again:
a ``stat`` a second at most, however many reads a provider serves."""

_log = logging.getLogger("seamless")


class _SwitchFile:
    """The switches a file lists, re-read when its mtime or size changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._raw: str | None = None
        self._checked = float("-inf")
        self._stamp: tuple[int, int] | None = None
        self._names: frozenset[str] = frozenset()

    def names(self) -> frozenset[str]:
        # The hot path compares the variable's raw text: no Path, no system call.
        raw = settings.kill_switch_file_text()
        if not raw:
            return frozenset()
        now = time.monotonic()
        if raw == self._raw and now - self._checked < FILE_TTL_S:
            return self._names
        path = settings.kill_switch_file()
        if path is None:
            return frozenset()
        with self._lock:
            self._refresh(path, now)
            self._raw = raw
            return self._names

    def _refresh(self, path: Path, now: float) -> None:
        try:
            info = path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            stamp = None  # no file: no switch on (deleting it is how they are cleared)
        except OSError as exc:
            _log.warning("kill switch file %s cannot be read: %s", path, exc)
            stamp = None
        if path != self._path or stamp != self._stamp:
            self._names = _parse(path) if stamp is not None else frozenset()
            self._stamp = stamp
            self._path = path
        self._checked = now


def _parse(path: Path) -> frozenset[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _log.warning("kill switch file %s cannot be read: %s", path, exc)
        return frozenset()
    names = {line.split("#", 1)[0].strip().upper() for line in lines}
    names.discard("")
    unknown = names.difference(SWITCHES)
    if unknown:
        _log.warning("kill switch file %s names unknown switches %s", path, sorted(unknown))
    return frozenset(names.intersection(SWITCHES))


_FILE = _SwitchFile()


def force_fail_fast() -> bool:
    """Whether ``FORCE_FAIL_FAST`` is on now (environment or switch file)."""
    return settings.force_fail_fast() or settings.FORCE_FAIL_FAST_ENV in _FILE.names()


def backfill_disabled() -> bool:
    """Whether ``DISABLE_BACKFILL`` is on now (environment or switch file)."""
    return settings.backfill_disabled() or settings.DISABLE_BACKFILL_ENV in _FILE.names()


def effective_strategy(strategy: Strategy) -> tuple[Strategy, str | None]:
    """The strategy a read runs with now, and the switch that downgraded it (if any)."""
    if strategy is Strategy.FAIL_FAST:
        return strategy, None
    if force_fail_fast():
        return Strategy.FAIL_FAST, settings.FORCE_FAIL_FAST_ENV
    if strategy is Strategy.AUTO_BACKFILL and backfill_disabled():
        return Strategy.FAIL_FAST, settings.DISABLE_BACKFILL_ENV
    return strategy, None
