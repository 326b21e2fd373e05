"""Per-row conformance flags: a bitset stored in the ``flags`` column (int32).

The first six names come from the seeds (003 §4); the last three record what
the conformance pipeline itself did to a bar or thought of it. Several flags
combine with ``|``. Values are stored in files and Dagster metadata: a bit
never moves, new flags take the next free bit.

>>> BarFlag.ROLLED_UP | BarFlag.DEDUPED
<BarFlag.ROLLED_UP|DEDUPED: 192>
>>> flag_names(66)
['LIVE', 'ROLLED_UP']
"""

from __future__ import annotations

from enum import IntFlag

import numpy as np

from seamless_sdk.bars import FLAG_DTYPE as _FLAG_DTYPE


class BarFlag(IntFlag):
    """What happened to a bar on its way into the store or out of the SDK."""

    BACKFILLED = 1
    """The bar was fetched by a backfill (in-process or a Dagster run)."""
    LIVE = 2
    """The bar came from the live source, newer than storage."""
    FWD_FILLED = 4
    """The bar was synthesised by carrying the previous close forward."""
    OUT_OF_ORDER = 8
    """At least one input row of the bar arrived after a row with a later ``ts``."""
    ADJUSTED = 16
    """Prices were adjusted (splits, dividends, roll) after the bar was recorded."""
    PARTIAL_BAR = 32
    """The bar was still forming when read: its interval had not closed."""
    ROLLED_UP = 64
    """The bar was formed from several different samples inside its interval."""
    DEDUPED = 128
    """Rows were dropped from this bar's claims: repeats identical to a kept row, or
    rows that lost to a higher-priority ``source`` or a later ``ingest_time``."""
    SUSPECT = 256
    """A statistical quality rule (abnormal jump, stale price) warned about the bar;
    it was kept. The report's ``rule_violations`` says which rule."""


Flag = BarFlag
"""Short alias: ``Flag.BACKFILLED``."""

FLAG_DTYPE = _FLAG_DTYPE
ALL_FLAGS: tuple[BarFlag, ...] = tuple(BarFlag)


def flag_names(value: int) -> list[str]:
    """Names of the flags set in ``value``, lowest bit first."""
    return [f.name for f in ALL_FLAGS if value & f and f.name is not None]


_NAMED_BITS: tuple[tuple[str, int], ...] = tuple((str(f.name), int(f)) for f in ALL_FLAGS)
"""Each flag's name and bit as plain values: ``IntFlag``'s ``&`` costs ~2 µs a
flag, which every conformed window and store read would pay nine times."""


def count_flags(flags: np.ndarray) -> dict[str, int]:
    """Rows per flag name (every flag listed, zeros included) for a flags column."""
    n = len(flags)
    if n == 0:
        return {name: 0 for name, _ in _NAMED_BITS}
    first = int(flags[0])
    # The hot path hands us a constant column (just the caller's flags): one
    # comparison instead of eight masks.
    if (flags == first).all():
        return {name: (n if first & bit else 0) for name, bit in _NAMED_BITS}
    return {name: int(np.count_nonzero(flags & bit)) for name, bit in _NAMED_BITS}
