"""The operator's kill switches, ``FORCE_FAIL_FAST`` and ``DISABLE_BACKFILL``
(seed 003 section 9), as the read engine and the fill executor apply them.

They are environment variables (``seamless_sdk.settings``) read on every
request and every fill window, so flipping one reaches a long-running
provider at once, without a restart:

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

from seamless_sdk import settings
from seamless_sdk.strategy import Strategy


def effective_strategy(strategy: Strategy) -> tuple[Strategy, str | None]:
    """The strategy a read runs with now, and the switch that downgraded it (if any)."""
    if strategy is Strategy.FAIL_FAST:
        return strategy, None
    if settings.force_fail_fast():
        return Strategy.FAIL_FAST, settings.FORCE_FAIL_FAST_ENV
    if strategy is Strategy.AUTO_BACKFILL and settings.backfill_disabled():
        return Strategy.FAIL_FAST, settings.DISABLE_BACKFILL_ENV
    return strategy, None


def backfill_disabled() -> bool:
    """Whether ``DISABLE_BACKFILL`` is on now."""
    return settings.backfill_disabled()
