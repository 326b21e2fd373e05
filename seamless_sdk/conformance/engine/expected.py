"""The ``strict=True`` check: returned bars against the node calendar's expected bars.

Seed 003 §4 "output guarantees": with ``strict=True`` the bar count must
equal the expected bar count, else an error or a red flag. The read engine
raises ``ConformanceError`` on a mismatch; asset checks and reports use the
same details (the dict ``ConformanceReport.with_strict`` records).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seamless_sdk.bars import epoch_seconds
from seamless_sdk.calendars import Calendar
from seamless_sdk.intervals import Interval, parse_interval

MAX_LISTED = 100
"""Missing and unexpected bar opens listed in the details (the counts are exact)."""


def check_expected(
    calendar: Calendar, interval: Interval | str, start: int, end: int, ts: Any
) -> tuple[bool, dict[str, Any]]:
    """Compare the bars ``ts`` (epoch seconds or datetimes) with those ``calendar`` expects.

    Returns ``(ok, details)``: ``ok`` when the bars inside ``[start, end)``
    are exactly the expected ones; ``details`` holds ``expected``,
    ``observed`` (bars returned inside the window), ``missing_count``,
    ``unexpected_count`` and the first ``MAX_LISTED`` ``missing`` and
    ``unexpected`` bar opens. ``with_strict(**strict_fields(details))``
    records it in a report.

    >>> from seamless_sdk.calendars import calendar_for
    >>> check_expected(calendar_for(None), "1h", 0, 7200, [0])[1]["missing"]
    [3600]
    """
    iv = parse_interval(interval)
    expected = calendar.expected_bars(iv, start, end)
    returned = epoch_seconds(ts)
    returned = returned[(returned >= start) & (returned < end)]
    if len(expected) == len(returned) and np.array_equal(expected, returned):
        missing = unexpected = np.zeros(0, dtype=np.int64)
    else:
        missing = np.setdiff1d(expected, returned)
        unexpected = np.setdiff1d(returned, expected)
    ok = not len(missing) and not len(unexpected)
    return ok, {
        "ok": ok,
        "expected": len(expected),
        "observed": len(returned),
        "missing_count": len(missing),
        "unexpected_count": len(unexpected),
        "missing": [int(x) for x in missing[:MAX_LISTED]],
        "unexpected": [int(x) for x in unexpected[:MAX_LISTED]],
    }


def strict_fields(details: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``ConformanceReport.with_strict`` from ``details``."""
    return {k: details[k] for k in ("expected", "observed", "missing", "unexpected")}
