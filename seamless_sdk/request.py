"""Validation of request fields: node ids and time bounds.

Every value a caller hands the SDK passes through here before it reaches SQL,
Dagster or a file path; bad values raise ``InvalidRequestError`` naming the field.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pandas.errors import OutOfBoundsDatetime

from seamless_sdk.bars import iso_utc
from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import (
    MAX_TIME,
    MIN_TIME,
    TIME_RANGE,
    Interval,
    check_time,
    month_start,
    parse_interval,
)

NODE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_NODE_ID_RE = re.compile(NODE_ID_PATTERN)

TimeLike = int | float | str | datetime | pd.Timestamp | np.datetime64


def validate_node_id(node_id: Any) -> str:
    """Return ``node_id`` if it matches ``NODE_ID_PATTERN`` exactly, else raise."""
    if not isinstance(node_id, str) or not _NODE_ID_RE.fullmatch(node_id):
        raise InvalidRequestError("node_id", f"{node_id!r} does not match ^{NODE_ID_PATTERN}$")
    return node_id


def validate_node_ids(node_ids: Any) -> list[str]:
    """The distinct ids of ``node_ids`` (any iterable of node ids but a string),
    each checked as ``validate_node_id``, in the order first given."""
    if isinstance(node_ids, str | bytes | bytearray):
        raise InvalidRequestError(
            "node_ids", f"is a {type(node_ids).__name__}: pass a list of node ids"
        )
    try:
        ids = iter(node_ids)
    except TypeError:
        raise InvalidRequestError(
            "node_ids", f"{node_ids!r} is not an iterable of node ids"
        ) from None
    return list(dict.fromkeys(validate_node_id(n) for n in ids))


def to_epoch_seconds(value: Any, field: str) -> int:
    """Epoch seconds from an int, a whole float, a datetime, a ``pandas.Timestamp``,
    a ``numpy.datetime64`` or an ISO-8601 string.

    Naive datetimes, datetime64 values and strings mean UTC. Fractions of a
    second are rejected, since bar bounds are whole seconds, and so is anything
    outside the supported time range (``intervals.MIN_TIME`` to ``MAX_TIME``).
    Every failure is an ``InvalidRequestError`` naming ``field``.
    """
    seconds = _seconds(value, field)
    if MIN_TIME <= seconds <= MAX_TIME:
        return seconds
    return check_time(seconds, field, describe(value))


def describe(value: Any) -> str:
    """``repr(value)`` for an error message; pandas cannot repr a Timestamp
    outside years 1-9999, so those are shown as their datetime64."""
    try:
        return repr(value)
    except Exception:  # any object may reach here; its repr must not mask the real error
        asm8 = getattr(value, "asm8", None)
        return f"{type(value).__name__}({'...' if asm8 is None else repr(asm8)})"


def _seconds(value: Any, field: str) -> int:
    # Exact integer arithmetic throughout: converting through datetime64[ns]
    # first (as pandas does) would overflow before the range could be checked.
    if isinstance(value, bool | np.bool_):
        raise InvalidRequestError(field, f"{value!r} is not a time")
    if isinstance(value, np.timedelta64 | timedelta):  # numpy counts timedelta64 as an integer
        raise InvalidRequestError(field, f"{describe(value)} is a duration, not a time")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise InvalidRequestError(field, f"{value!r} is not a finite time")
        if float(value).is_integer():
            return int(value)
        raise InvalidRequestError(field, f"{value!r} is not a whole number of seconds")
    if isinstance(value, str):
        return _seconds(_parse_iso(value, field), field)
    if value is pd.NaT:
        raise InvalidRequestError(field, f"{value!r} is not a time")
    if isinstance(value, pd.Timestamp):
        # asm8 is the UTC instant for an aware Timestamp, the wall time (which
        # means UTC) for a naive one, in the Timestamp's own unit.
        return _datetime64_seconds(value.asm8, field, describe(value))
    if isinstance(value, datetime):
        return _datetime_seconds(value, field)
    if isinstance(value, np.datetime64):
        return _datetime64_seconds(value, field, repr(value))
    if isinstance(value, np.ndarray):
        # Arrays have __index__ too, and a one-element one (df.ts.values[:1])
        # is the likely slip: name it rather than let numpy's TypeError out.
        raise InvalidRequestError(
            field, f"an array of shape {value.shape} is not a time (pass one element)"
        )
    if hasattr(value, "__index__"):
        try:
            return operator.index(value)
        except TypeError:
            pass  # its __index__ refuses: described below like any other object
    raise InvalidRequestError(
        field,
        f"{describe(value)} is not an epoch-seconds int, datetime, Timestamp, datetime64 or "
        "ISO string",
    )


# ISO-8601 as people write it: a date, or a date and a time (``T`` or a
# space), seconds and a fraction optional, then ``Z`` or an offset; or the
# basic form (20240101, 20240101T093000Z). pandas alone would also guess
# "11/12/2023" (month first) and "Nov 14 2023", and drop a NUL or digits past ns.
_ISO_RE = re.compile(
    r"(?:\d{4,}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?P<frac>[.,]\d+)?)?)?)?"
    r"|\d{8}(?:T\d{2}(?:\d{2}(?:\d{2}(?P<bfrac>[.,]\d+)?)?)?)?)"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def _parse_iso(value: str, field: str) -> pd.Timestamp:
    m = _ISO_RE.fullmatch(value)
    if m is None:
        hint = " (give epoch seconds as an int)" if value.strip().isdigit() else ""
        raise InvalidRequestError(
            field, f"{value!r} is not an ISO-8601 time like '2024-01-01T09:30:00Z'{hint}"
        )
    fraction = m.group("frac") or m.group("bfrac") or ""
    if fraction.strip(".,0"):  # any non-zero digit, even past what a Timestamp holds
        raise InvalidRequestError(field, f"{value!r} is not a whole number of seconds")
    try:
        ts = pd.Timestamp(value)
    except OutOfBoundsDatetime:
        raise InvalidRequestError(
            field, f"{value!r} is outside the supported time range {TIME_RANGE}"
        ) from None
    except (ValueError, TypeError, OverflowError) as exc:
        if str(exc).startswith("year "):  # e.g. year 10000: a time, just not one we hold
            raise InvalidRequestError(
                field, f"{value!r} is outside the supported time range {TIME_RANGE}"
            ) from None
        raise InvalidRequestError(field, f"{value!r} is not an ISO-8601 time ({exc})") from None
    if ts is pd.NaT:
        raise InvalidRequestError(field, f"{value!r} is not a time")
    return ts


_EPOCH = datetime(1970, 1, 1)


def _datetime_seconds(value: datetime, field: str) -> int:
    try:
        offset = value.utcoffset() or timedelta(0)
    except (ValueError, TypeError) as exc:  # a tzinfo Python itself refuses
        raise InvalidRequestError(
            field, f"{describe(value)} has no usable UTC offset: {exc}"
        ) from None
    # timedelta spans +-999,999,999 days, so this is exact for every datetime.
    delta = value.replace(tzinfo=None) - _EPOCH - offset
    if delta.microseconds:
        raise InvalidRequestError(field, f"{value!r} is not a whole number of seconds")
    return delta.days * 86_400 + delta.seconds


# Seconds per datetime64 unit, as (multiplier, divisor); months and years are
# calendar units and handled apart.
_UNIT_SECONDS: dict[str, tuple[int, int]] = {
    "W": (7 * 86_400, 1),
    "D": (86_400, 1),
    "h": (3600, 1),
    "m": (60, 1),
    "s": (1, 1),
    "ms": (1, 10**3),
    "us": (1, 10**6),
    "ns": (1, 10**9),
    "ps": (1, 10**12),
    "fs": (1, 10**15),
    "as": (1, 10**18),
}


def _datetime64_seconds(value: np.datetime64, field: str, shown: str) -> int:
    if np.isnat(value):
        raise InvalidRequestError(field, f"{shown} is not a time")
    unit, step = np.datetime_data(value.dtype)
    count = int(value.view(np.int64)) * step
    if unit == "Y":
        return month_start(1970 + count, 1)
    if unit == "M":
        return month_start(1970 + count // 12, count % 12 + 1)
    if unit not in _UNIT_SECONDS:
        raise InvalidRequestError(field, f"{shown} has an unsupported datetime64 unit {unit!r}")
    mul, div = _UNIT_SECONDS[unit]
    whole, rest = divmod(count * mul, div)
    if rest:
        raise InvalidRequestError(field, f"{shown} is not a whole number of seconds")
    return whole


@dataclass(frozen=True, slots=True)
class BarRequest:
    """A validated request: node, parsed interval and aligned ``[start, end)``."""

    node_id: str
    interval: Interval
    start: int
    end: int


def validate_request(node_id: Any, interval: Any, start: Any, end: Any) -> BarRequest:
    """Check every field of a read and return it in canonical form."""
    node = validate_node_id(node_id)
    return BarRequest(node, *validate_span(interval, start, end))


def validate_span(interval: Any, start: Any, end: Any) -> tuple[Interval, int, int]:
    """The interval and aligned ``[start, end)`` of a read, checked: what the
    reads of a universe share (``read_many`` checks them once, even for no nodes)."""
    iv = parse_interval(interval)
    s = aligned_seconds(iv, start, "start")
    e = aligned_seconds(iv, end, "end")
    check_order(s, e)
    return iv, s, e


def aligned_seconds(iv: Interval, value: Any, field: str) -> int:
    """``value`` as epoch seconds (:func:`to_epoch_seconds`) on a bar boundary of
    ``iv``, else ``InvalidRequestError`` naming ``field``."""
    seconds = to_epoch_seconds(value, field)
    # Times as a person typed them (ISO), with the epoch seconds the SDK uses.
    if not iv.is_aligned(seconds):
        raise InvalidRequestError(
            field, f"{iso_utc(seconds)} ({seconds}) is not aligned to the {iv.name} interval"
        )
    return seconds


def check_order(start: int, end: int) -> None:
    """``InvalidRequestError`` naming ``end`` when it is before ``start``."""
    if start > end:
        raise InvalidRequestError(
            "end", f"{iso_utc(end)} ({end}) is before start {iso_utc(start)} ({start})"
        )
