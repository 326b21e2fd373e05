"""Validation of request fields: node ids and time bounds.

Every value a caller hands the SDK passes through here before it reaches SQL,
Dagster or a file path; bad values raise ``InvalidRequestError`` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from seamless_sdk.errors import InvalidRequestError
from seamless_sdk.intervals import Interval, parse_interval

NODE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_NODE_ID_RE = re.compile(NODE_ID_PATTERN)

TimeLike = int | str | datetime | pd.Timestamp


def validate_node_id(node_id: Any) -> str:
    """Return ``node_id`` if it matches ``NODE_ID_PATTERN`` exactly, else raise."""
    if not isinstance(node_id, str) or not _NODE_ID_RE.fullmatch(node_id):
        raise InvalidRequestError("node_id", f"{node_id!r} does not match ^{NODE_ID_PATTERN}$")
    return node_id


def to_epoch_seconds(value: Any, field: str) -> int:
    """Epoch seconds from an int, a datetime/Timestamp or an ISO-8601 string.

    Naive datetimes and strings mean UTC. Fractions of a second are rejected,
    since bar bounds are whole seconds.
    """
    if isinstance(value, bool):
        raise InvalidRequestError(field, f"{value!r} is not a time")
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__") and not isinstance(value, (float, str)):
        return int(value)  # numpy integers
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise InvalidRequestError(field, f"{value!r} is not a whole number of seconds")
    if isinstance(value, (str, datetime)):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError) as exc:
            raise InvalidRequestError(field, f"{value!r} is not an ISO-8601 time ({exc})") from None
        if ts is pd.NaT:
            raise InvalidRequestError(field, f"{value!r} is not a time")
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        ns = ts.value if ts.unit == "ns" else ts.as_unit("ns").value
        if ns % 1_000_000_000:
            raise InvalidRequestError(field, f"{value!r} is not a whole number of seconds")
        return ns // 1_000_000_000
    raise InvalidRequestError(
        field, f"{value!r} is not an epoch-seconds int, datetime, Timestamp or ISO string"
    )


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
    iv = parse_interval(interval)
    s = to_epoch_seconds(start, "start")
    e = to_epoch_seconds(end, "end")
    if not iv.is_aligned(s):
        raise InvalidRequestError("start", f"{s} is not aligned to the {iv.name} interval")
    if not iv.is_aligned(e):
        raise InvalidRequestError("end", f"{e} is not aligned to the {iv.name} interval")
    if s > e:
        raise InvalidRequestError("end", f"{e} is before start {s}")
    return BarRequest(node, iv, s, e)
